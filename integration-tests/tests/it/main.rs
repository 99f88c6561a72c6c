//! End-to-end tests against one in-process platform per test binary: real PostgreSQL and
//! PgBouncer processes, the real API over HTTP, the real workers.

mod auth;
mod backups;
mod databases;
mod eventstore;
mod health;
mod input;
mod isolation;
