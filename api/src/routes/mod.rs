pub mod activity;
pub mod backups;
pub mod databases;
pub mod health;
pub mod operations;
