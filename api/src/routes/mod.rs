pub mod backups;
pub mod activity;
pub mod databases;
pub mod health;
pub mod operations;
