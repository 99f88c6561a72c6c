//! Every request and response body Berth's HTTP API publishes (API.md), shared by the server
//! (`api`) and its clients. Plain data: serde and OpenAPI schemas, no I/O, no knowledge of
//! how the server stores anything. Each type both serializes and deserializes, so a client
//! can send what the server reads and read what the server sends.

mod account;
mod activity;
mod allowlist;
mod backups;
mod collaborators;
mod cookie;
mod data_api;
mod databases;
mod dbusers;
mod envelope;
mod hosts;
mod inspect;
mod keys;
mod migrations;
pub mod numbers;
mod sql;

pub use account::*;
pub use activity::*;
pub use allowlist::*;
pub use backups::*;
pub use collaborators::*;
pub use cookie::*;
pub use data_api::*;
pub use databases::*;
pub use dbusers::*;
pub use envelope::*;
pub use hosts::*;
pub use inspect::*;
pub use keys::*;
pub use migrations::*;
pub use sql::*;
