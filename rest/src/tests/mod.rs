mod fixtures;
mod grammar;
mod plan_read;
mod request;
