//! End-to-end tests against one in-process platform per test binary: real PostgreSQL and
//! PgBouncer processes, the real API over HTTP, the real workers.

mod access;
mod activity;
mod audit;
mod auth;
mod databases;
mod eventstore;
mod health;
mod incidents;
mod input;
mod isolation;
mod matrix;
mod observability;
mod secrets;
mod sessions;
