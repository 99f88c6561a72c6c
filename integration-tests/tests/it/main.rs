//! End-to-end tests against one in-process platform per test binary: real PostgreSQL and
//! PgBouncer processes, the real API over HTTP, the real workers.

mod access;
mod activity;
mod admin_accounts;
mod allowlist;
mod audit;
mod auth;
mod backups;
mod caps;
mod contract;
mod credentials;
mod databases;
mod drift;
mod eventstore;
mod flood;
mod health;
mod host_limits;
mod hostile;
mod incidents;
mod input;
mod isolation;
mod keycache;
mod leaks;
mod lifecycle;
mod listcache;
mod locks;
mod logout;
mod matrix;
mod observability;
mod replay;
mod rotation;
mod secrets;
mod sessions;
mod storage_quota;
mod stuck;
mod users;
