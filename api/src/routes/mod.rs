pub mod accounts;
pub mod activity;
pub mod allowlist;
pub mod api_keys;
pub mod auth;
pub mod backups;
pub mod collaborators;
/// The dashboard's sign-in routes live with its cookie handling.
pub use crate::cookie;
pub mod databases;
pub mod health;
pub mod incidents;
pub mod inspect;
pub mod lifecycle;
pub mod me;
pub mod operations;
pub mod sql;
pub mod users;
