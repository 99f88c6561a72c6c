//! The shape every aggregate has: `decide` turns a command into events or refuses it,
//! `apply` folds an event into state. Both pure.

pub trait Aggregate: Default {
    type Command;
    type Event;
    type Error;

    fn decide(&self, command: &Self::Command) -> Result<Vec<Self::Event>, Self::Error>;
    fn apply(&mut self, event: &Self::Event);

    fn replay<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self
    where
        Self::Event: 'a,
    {
        let mut state = Self::default();
        for e in events {
            state.apply(e);
        }
        state
    }
}

/// Who caused an event: a user, through a session or one of their API keys, or the platform
/// itself (workers, watchdogs), in which case both are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Actor {
    pub user_id: Option<crate::UserId>,
    pub api_key_id: Option<crate::ApiKeyId>,
}

impl Actor {
    pub fn system() -> Self {
        Self::default()
    }
}

/// What an event means for the activity log that users read. `None` for events that are
/// the platform's own bookkeeping (a job attempt started, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub action: &'static str,
    pub details: serde_json::Value,
}
