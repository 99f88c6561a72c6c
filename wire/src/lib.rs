//! Every request and response body Berth's HTTP API publishes (API.md), shared by the server
//! (`api`) and its clients. Plain data: serde and OpenAPI schemas, no I/O, no knowledge of
//! how the server stores anything. Each type both serializes and deserializes, so a client
//! can send what the server reads and read what the server sends.

mod access;
mod account;
mod activity;
mod backups;
mod cookie;
mod databases;
mod envelope;
mod inspect;
mod keys;
pub mod numbers;

pub use access::*;
pub use account::*;
pub use activity::*;
pub use backups::*;
pub use cookie::*;
pub use databases::*;
pub use envelope::*;
pub use inspect::*;
pub use keys::*;
