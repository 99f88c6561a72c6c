//! Tenant-host adapters: how the control plane acts on a host's PostgreSQL (as superuser)
//! and its PgBouncer (config files and admin console). Used by the workers for changes and
//! by the application layer (`control::inspect`) for read-only inspection.
//!
//! # Data in, outcomes out
//!
//! This crate never reads or writes the control plane (it does not depend on `eventstore`).
//! Its callers read what a step needs — the host ([`domain::TenantHost`]) and its passwords
//! ([`HostCredentials`]), a database's login ([`TenantLogin`]), what PgBouncer must serve
//! ([`sync::BouncerState`]) — and record what comes back: events for outcomes, incidents for
//! what an operator must see (a RELOAD that did not take is [`HostError::ReloadNotTaken`]).
//! On the worker's side that is `worker::hosts`; the API's inspection reads its own inputs.
//!
//! # Engines
//!
//! [`engine::TenantEngine`] is what the control plane asks of a host, per engine: provision
//! and drop, lifecycle steps, credentials, users, network rules (the front door: pooler
//! config and allowlists, or the server's own accounts), backup/restore/copy streams and
//! verification, size and inspection. [`HostConn`] (PostgreSQL behind PgBouncer) is its first
//! implementation, [`maria::MariaHost`] (MariaDB, whose accounts are its front door) the
//! second; [`Hosts::engine`] picks one by the host's engine, the only place that branches on
//! it. Another engine (MongoDB: README, "Engines") would plug in the same way:
//! 1. a module tree of its own here (its connection type, DDL, front door, dump/restore
//!    tools), with its own marker scheme and idempotent steps;
//! 2. `impl TenantEngine` for its connection type, mapping each method to its steps, and its
//!    verifier format in [`engine::credential_verifier`];
//! 3. an arm in [`Hosts::engine`]; the worker's job steps, which call the trait only, stay as
//!    they are.
//!
//! Errors keep their cause ([`HostError`]): the caller decides what is logged and shown.

pub mod bins;
pub mod data_api;
pub mod database_lock;
pub mod dump;
pub mod dump_stream;
pub mod engine;
pub mod host;
pub mod inspect;
pub mod lifecycle;
pub mod maria;
pub mod migrations;
pub mod objects;
pub mod observe;
pub mod pgbouncer;
pub mod release;
pub mod reload;
pub mod restore_check;
pub mod sql;
pub mod sync;
pub mod tenant;
pub mod users;

pub use engine::{credential_verifier, HostFacts, LifecycleStep, TenantEngine};
pub use host::{HostConn, HostCredentials, HostError, Hosts, RoleLimits};
pub use tenant::{TenantConn, TenantLogin};
