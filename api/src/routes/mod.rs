pub mod activity;
pub mod allowlist;
pub mod databases;
pub mod health;
pub mod lifecycle;
pub mod operations;
pub mod users;
