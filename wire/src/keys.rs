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
    /// Required with `selected`: the databases the key may reach (repeats count once).
    #[schema(max_items = 100)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_ids: Option<Vec<String>>,
}

/// A key's metadata (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    pub prefix: String,
    pub label: String,
    pub scope: String,
    pub database_ids: Vec<String>,
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
