//! A session's sign-in, recorded on a stream of its own (`session-<id>`, see
//! [`crate::StreamId::session`]) so that sign-ins never lengthen the account's stream. Its events are account events (`SessionStarted`);
//! ending a session is decided on the account (`AccountCommand::EndSession`).

use crate::account::{AccountEvent, SignInMethod};
use crate::aggregate::Aggregate;
use crate::{AccountId, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionCommand {
    /// Records a sign-in before its token is handed out. Never the token itself.
    Start {
        account_id: AccountId,
        user_id: UserId,
        session_id: uuid::Uuid,
        method: SignInMethod,
        expires_at: chrono::DateTime<chrono::Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("this session was already started")]
    AlreadyStarted,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// Who signed in, once the session started.
    pub started: Option<(AccountId, UserId)>,
}

impl Aggregate for Session {
    type Command = SessionCommand;
    type Event = AccountEvent;
    type Error = SessionError;

    fn decide(&self, command: &SessionCommand) -> Result<Vec<AccountEvent>, SessionError> {
        match command {
            SessionCommand::Start { account_id, user_id, session_id, method, expires_at } => {
                if self.started.is_some() {
                    return Err(SessionError::AlreadyStarted);
                }
                Ok(vec![AccountEvent::SessionStarted {
                    account_id: *account_id,
                    user_id: *user_id,
                    session_id: *session_id,
                    method: *method,
                    expires_at: *expires_at,
                }])
            }
        }
    }

    fn apply(&mut self, event: &AccountEvent) {
        if let AccountEvent::SessionStarted { account_id, user_id, .. } = event {
            self.started = Some((*account_id, *user_id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> SessionCommand {
        SessionCommand::Start {
            account_id: AccountId::new(),
            user_id: UserId::new(),
            session_id: uuid::Uuid::new_v4(),
            method: SignInMethod::Oidc,
            expires_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_new_session_starts_with_what_the_command_says() {
        let cmd = start();
        let SessionCommand::Start { account_id, user_id, session_id, method, expires_at } = cmd.clone();
        let events = Session::default().decide(&cmd).expect("starts");
        assert_eq!(events, vec![AccountEvent::SessionStarted { account_id, user_id, session_id, method, expires_at }]);
    }

    #[test]
    fn a_session_starts_once() {
        let cmd = start();
        let given = Session::replay(&Session::default().decide(&cmd).expect("starts"));
        assert_eq!(given.decide(&cmd), Err(SessionError::AlreadyStarted));
        assert_eq!(given.decide(&start()), Err(SessionError::AlreadyStarted));
    }
}
