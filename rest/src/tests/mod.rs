mod fixtures;
mod grammar;
mod plan_read;
mod plan_write;
mod props;
mod request;
mod shape;
