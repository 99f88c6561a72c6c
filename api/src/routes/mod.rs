pub mod activity;
pub mod databases;
pub mod health;
pub mod lifecycle;
pub mod operations;
