//! Accounts (tenants) and their API keys.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::ids::{AccountId, ApiKeyId};

#[derive(Debug, Clone)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub created_at: jiff::Timestamp,
    /// Signs dialer bridge requests and deliveries to callbacks' own webhook URLs.
    pub signing_secret: super::SigningSecret,
}

/// A stored API key: only the SHA-256 of the secret is kept.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub account_id: AccountId,
    pub name: String,
    pub hash: String,
    pub created_at: jiff::Timestamp,
    pub revoked_at: Option<jiff::Timestamp>,
}

/// The secret half of an API key, shown to its owner once and never logged.
pub struct ApiKeySecret(SecretString);

impl ApiKeySecret {
    /// A new random key: `rbk_` and 40 characters of base62 (about 238 bits).
    pub fn generate() -> Self {
        use rand::Rng;
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut rng = rand::rng();
        let body: String = (0..40)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        Self(SecretString::from(format!("rbk_{body}")))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn hash(&self) -> String {
        hash_api_key(self.expose())
    }
}

/// The stored form of a presented key.
pub fn hash_api_key(presented: &str) -> String {
    hex::encode(Sha256::digest(presented.as_bytes()))
}
