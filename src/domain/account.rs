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
    /// The first characters of the key, to recognise it in lists without revealing it.
    pub prefix: String,
    pub scopes: Vec<super::Scope>,
    pub created_at: jiff::Timestamp,
    pub revoked_at: Option<jiff::Timestamp>,
}

/// The one JWT algorithm an account accepts, with its verification key.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub enum JwtAlgorithm {
    HS256,
    RS256,
    ES256,
}

impl JwtAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::HS256 => "HS256",
            JwtAlgorithm::RS256 => "RS256",
            JwtAlgorithm::ES256 => "ES256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "HS256" => Some(Self::HS256),
            "RS256" => Some(Self::RS256),
            "ES256" => Some(Self::ES256),
            _ => None,
        }
    }
}

/// An account's JWT setting: HS256 with a shared secret, or RS256/ES256 with a PEM public key.
#[derive(Clone)]
pub struct JwtKey {
    pub algorithm: JwtAlgorithm,
    /// The shared secret (HS256) or the PEM public key. Never logged.
    pub key: SecretString,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
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

    /// `rbk_` and the next 6 characters: enough to tell keys apart, useless to an attacker.
    pub fn prefix(&self) -> String {
        self.expose().chars().take(10).collect()
    }
}

/// The stored form of a presented key.
pub fn hash_api_key(presented: &str) -> String {
    hex::encode(Sha256::digest(presented.as_bytes()))
}
