//! End-to-end tests against one in-process platform per test binary: real PostgreSQL and
//! PgBouncer processes, the real API over HTTP, the real workers.

mod allowlist;
mod auth;
mod credentials;
mod databases;
mod eventstore;
mod health;
mod input;
mod isolation;
mod lifecycle;
mod rotation;
mod users;
