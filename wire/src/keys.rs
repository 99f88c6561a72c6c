//! API keys.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api-keys`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub label: String,
    /// `all` (default) or `selected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// With `selected` (or `databases`): the databases the key may reach, each `rw`
    /// (repeats count once).
    #[schema(max_items = 100)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_ids: Option<Vec<String>>,
    /// With `selected` (or `database_ids`): the databases the key may reach and its access to
    /// each: `rw` (the role of the user who made the key) or `ro` (only the read rows of that
    /// role: view, credentials, read-only SQL). A database listed twice is 400.
    #[schema(max_items = 100)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub databases: Option<Vec<KeyDatabase>>,
}

/// One database of a selected-databases key and the key's access to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyDatabase {
    pub id: String,
    /// `ro` or `rw`.
    pub access: String,
}

/// A key's metadata (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    pub prefix: String,
    pub label: String,
    pub scope: String,
    /// Every database the key reaches, whatever its access (empty for scope `all`).
    pub database_ids: Vec<String>,
    /// The same databases with the key's access to each (`ro` or `rw`).
    #[serde(default)]
    pub databases: Vec<KeyDatabase>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Returned by create and replace: the only time `key` is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyWithSecret {
    #[serde(flatten)]
    pub meta: KeyView,
    pub key: String,
}
