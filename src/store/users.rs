//! The part of the store interface that serves the Callback Manager: users and their sessions.

use jiff::Timestamp;

use super::StoreError;
use crate::domain::{
    AccountId, Actor,
    ids::UserId,
    user::{Email, Session, User},
};

#[async_trait::async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Stores a new user with their password hash; false if the e-mail is taken.
    async fn insert_user(
        &self,
        user: &User,
        password_hash: &str,
        actor: &Actor,
    ) -> Result<bool, StoreError>;

    /// A user by e-mail (any account) with their password hash, to sign in.
    async fn find_user_by_email(&self, email: &Email)
    -> Result<Option<(User, String)>, StoreError>;

    async fn list_users(&self, account: &AccountId) -> Result<Vec<User>, StoreError>;

    async fn insert_session(&self, session: &Session) -> Result<(), StoreError>;

    /// The session with this token hash and its user, if it has not expired by `now`.
    async fn find_session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<(Session, User)>, StoreError>;

    /// Ends a session (sign-out); false if there was none.
    async fn delete_session(&self, token_hash: &str) -> Result<bool, StoreError>;

    /// Ends every session of a user.
    async fn delete_user_sessions(&self, user: &UserId) -> Result<u64, StoreError>;

    /// Forgets sessions that expired before `before`; returns how many.
    async fn purge_sessions(&self, before: Timestamp) -> Result<u64, StoreError>;
}
