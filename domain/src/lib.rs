//! Berth's domain: names, ids, aggregates, events. Pure: no I/O, no clock reads.

pub mod account;
pub mod aggregate;
pub mod backup;
pub mod database;
pub mod ids;
pub mod name;

pub use account::{AccountEvent, HostEvent, PlatformRole};
pub use aggregate::{Activity, Actor, Aggregate};
pub use backup::{
    Backup, BackupCommand, BackupError, BackupEvent, BackupState, BackupTrigger, DeletionReason, TableStats,
};
pub use database::{
    Database, DatabaseCommand, DatabaseError, DatabaseEvent, DatabaseSource, DatabaseState, OperationKind,
};
pub use ids::*;
pub use name::{DatabaseName, NameError};
