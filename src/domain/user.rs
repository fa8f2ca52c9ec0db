//! People who sign in to the Callback Manager: users of an account, their roles, passwords and
//! sessions.
//!
//! Passwords are kept only as argon2 hashes; session tokens only as SHA-256 hashes. The CSRF
//! token of a session is derived from its token, so it is never stored either.

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
};
use jiff::{SignedDuration, Timestamp};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::{
    AccountId, ErrorCode, FieldError,
    ids::{AgentId, UserId},
};

/// What a user may do in the Callback Manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees and manages every callback of the account, and the reports.
    Supervisor,
    /// Works as one agent: their own callbacks, their queues' callbacks and their offers.
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "supervisor" => Some(Role::Supervisor),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }
}

/// A user of an account.
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub account_id: AccountId,
    pub email: Email,
    pub role: Role,
    /// The agent an `agent` user works as (always set for agents, never for supervisors).
    pub agent_id: Option<AgentId>,
    pub created_at: Timestamp,
}

impl User {
    /// A new user; an agent user must name their agent, a supervisor must not.
    pub fn new(
        account_id: AccountId,
        email: Email,
        role: Role,
        agent_id: Option<AgentId>,
        now: Timestamp,
    ) -> Result<Self, FieldError> {
        match (role, &agent_id) {
            (Role::Agent, None) => {
                return Err(FieldError::new(
                    ErrorCode::MissingField,
                    "agent_id",
                    "an agent user must be linked to an agent (agt_...)",
                ));
            }
            (Role::Supervisor, Some(_)) => {
                return Err(FieldError::new(
                    ErrorCode::InvalidField,
                    "agent_id",
                    "only agent users are linked to an agent",
                ));
            }
            _ => {}
        }
        Ok(Self {
            id: UserId::generate(),
            account_id,
            email,
            role,
            agent_id,
            created_at: now,
        })
    }
}

/// An e-mail address used to sign in: trimmed, lowercased, one `@` with text on both sides.
/// Addresses are unique across the server, so signing in needs no account id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldError> {
        let s = raw.trim().to_lowercase();
        let ok = s.len() <= 254
            && !s.chars().any(char::is_whitespace)
            && s.split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'));
        if ok {
            Ok(Self(s))
        } else {
            Err(FieldError::new(
                ErrorCode::InvalidField,
                field,
                "must be an e-mail address such as ann@example.com",
            ))
        }
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A new password, checked against the policy (10 to 256 characters).
pub fn check_new_password(password: &SecretString, field: &str) -> Result<(), FieldError> {
    let n = password.expose_secret().chars().count();
    if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        Ok(())
    } else {
        Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"),
        ))
    }
}

/// The argon2id hash (PHC string, with its own salt) of a password. CPU-heavy on purpose: call
/// it off the async threads.
pub fn hash_password(password: &SecretString) -> String {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

/// Does the password match the stored hash? A malformed hash matches nothing.
pub fn verify_password(password: &SecretString, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash to verify against when the e-mail is unknown, so a wrong address takes as long as a
/// wrong password.
pub fn dummy_password_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&SecretString::from("not a real password at all")))
}

/// How long a session lasts after sign-in.
pub const SESSION_TTL: SignedDuration = SignedDuration::from_hours(12);

/// The secret a browser holds in its session cookie (32 random bytes, hex).
pub struct SessionToken(SecretString);

impl SessionToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(SecretString::from(hex::encode(bytes)))
    }

    /// Wraps a token presented by a browser.
    pub fn presented(raw: &str) -> Option<Self> {
        (raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(SecretString::from(raw.to_owned())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// What the store keeps: the SHA-256 of the token, hex.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.expose().as_bytes()))
    }

    /// The session's CSRF token: sent by the page in `X-CSRF-Token` on every change. Derived
    /// from the cookie's token, so a page of another origin (which cannot read the cookie nor
    /// our pages) cannot forge it, and nothing more needs storing.
    pub fn csrf(&self) -> String {
        hex::encode(Sha256::digest(format!("csrf:{}", self.expose()).as_bytes()))
    }
}

/// A signed-in browser, as stored.
#[derive(Debug, Clone)]
pub struct Session {
    pub token_hash: String,
    pub user_id: UserId,
    pub account_id: AccountId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let pw = SecretString::from("correct horse battery");
        let hash = hash_password(&pw);
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&pw, &hash));
        assert!(!verify_password(
            &SecretString::from("wrong horse battery"),
            &hash
        ));
        assert!(!verify_password(&pw, "not a hash"));
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ", "email").unwrap().as_str(),
            "ann@example.com"
        );
        assert!(Email::parse("ann", "email").is_err());
        assert!(Email::parse("a@b@c", "email").is_err());
    }

    #[test]
    fn session_tokens_hash_and_derive_a_csrf_token() {
        let t = SessionToken::generate();
        assert_eq!(t.expose().len(), 64);
        assert_ne!(t.hash(), t.expose());
        assert_ne!(t.csrf(), t.hash());
        assert!(SessionToken::presented("xyz").is_none());
    }

    #[test]
    fn agent_users_need_an_agent() {
        let acc = AccountId::generate();
        let email = Email::parse("a@b.c", "email").unwrap();
        assert!(
            User::new(
                acc.clone(),
                email.clone(),
                Role::Agent,
                None,
                Timestamp::now()
            )
            .is_err()
        );
        assert!(User::new(acc, email, Role::Supervisor, None, Timestamp::now()).is_ok());
    }
}
