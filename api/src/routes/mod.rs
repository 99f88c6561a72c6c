pub mod activity;
pub mod databases;
pub mod health;
pub mod incidents;
pub mod inspect;
pub mod operations;
