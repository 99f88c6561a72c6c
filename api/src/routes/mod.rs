pub mod activity;
pub mod api_keys;
pub mod auth;
pub mod collaborators;
pub mod databases;
pub mod health;
pub mod me;
pub mod operations;
