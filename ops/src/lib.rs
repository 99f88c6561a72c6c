//! The `berth` binary's library: the local platform (clusters and PgBouncer as child
//! processes), platform assembly, configuration, the operator commands, and the user's
//! client commands (`cli`).

pub mod accounts;
pub mod api_tls;
pub mod audit;
pub mod bench;
pub mod chaos;
pub mod cli;
pub mod config;
pub mod harness;
pub mod keyfile;
pub mod local;
pub mod metrics;
pub mod modes;
pub mod platform;
pub mod pooler_watch;
pub mod rotate;
pub mod supervise;
pub mod tls;
pub mod up;
