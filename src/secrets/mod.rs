//! Secrets at rest: the cipher and the key ring, without I/O (the key file is `file.rs`).
//!
//! Every secret the store keeps (accounts' signing secrets and JWT keys, webhook endpoints'
//! secrets, trunks' credentials, SMTP passwords, the server's own keys) is written as
//! `enc:v1:<key id>:<base64 of nonce and ciphertext>`: XChaCha20-Poly1305 under the server's
//! key, a random 24-byte nonce per value, and the value's place (its column, its account and
//! its row, a [`Slot`]) as associated data, so a value copied to another row or column does
//! not decrypt. A database dump alone reveals no secret.
//!
//! A key's id is derived from the key (the first four bytes of an HMAC-SHA256 of a fixed
//! label, as hex): the same key always has the same id, and the id tells nothing of the key.
//! A [`KeyRing`] seals with its current key and opens with any of its keys (the older ones
//! only while a rotation re-encrypts).
//!
//! Architecture invariant: this module knows no database and no file; it never logs, and its
//! errors never hold a secret or a key.

pub mod file;

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;

/// The text every sealed value starts with.
const SEALED: &str = "enc:v1:";

/// The text a key is written as in a key file starts with.
const KEY_TEXT: &str = "rbk1:";

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// One 256-bit key and its id. `Debug` shows the id only.
pub struct Key {
    id: String,
    bytes: SecretBox<[u8; KEY_LEN]>,
}

impl Key {
    /// A new random key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut bytes);
        Self::from_bytes(bytes)
    }

    fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&bytes).expect("HMAC takes a key of any length");
        mac.update(b"ringback secret key id");
        let id = hex::encode(&mac.finalize().into_bytes()[..4]);
        Self {
            id,
            bytes: SecretBox::new(Box::new(bytes)),
        }
    }

    /// The key's short id, stored in every value it sealed.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key as a key file holds it: `rbk1:` and the key in base64.
    pub fn to_text(&self) -> String {
        format!("{KEY_TEXT}{}", STANDARD.encode(self.bytes.expose_secret()))
    }

    /// A key from a key file's text: the one line that is neither empty nor a `#` comment.
    pub fn from_text(text: &str) -> Result<Self, KeyTextError> {
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let line = lines.next().ok_or(KeyTextError::Empty)?;
        if lines.next().is_some() {
            return Err(KeyTextError::MoreThanOne);
        }
        let encoded = line.strip_prefix(KEY_TEXT).ok_or(KeyTextError::NotAKey)?;
        let mut decoded = STANDARD
            .decode(encoded)
            .map_err(|_| KeyTextError::NotAKey)?;
        let bytes: [u8; KEY_LEN] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| KeyTextError::NotAKey)?;
        decoded.fill(0);
        Ok(Self::from_bytes(bytes))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.bytes.expose_secret().into())
    }
}

impl Clone for Key {
    fn clone(&self) -> Self {
        Self::from_bytes(*self.bytes.expose_secret())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.id)
    }
}

/// Why a key file's text is not a key (never quoting it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyTextError {
    #[error("it holds no key")]
    Empty,
    #[error("it holds more than one line besides comments")]
    MoreThanOne,
    #[error("its line is not a Ringback key (rbk1: and 32 bytes in base64)")]
    NotAKey,
}

/// Where a sealed value lives: what it is bound to, so that it opens only there.
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    /// `table.column`.
    pub column: &'static str,
    /// The account the row belongs to (empty for the server's own secrets).
    pub account: &'a str,
    /// The row's id (the account's for a column of the account itself).
    pub row: &'a str,
}

impl Slot<'_> {
    fn associated_data(&self) -> Vec<u8> {
        let mut ad = Vec::with_capacity(64);
        for part in ["ringback secret", self.column, self.account, self.row] {
            ad.extend_from_slice(part.as_bytes());
            ad.push(0);
        }
        ad
    }
}

/// Why a stored value does not open (never quoting it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("sealed with key {0}, which the key file does not hold")]
    UnknownKey(String),
    #[error("does not open with key {0}: altered, or copied from another row")]
    Rejected(String),
    #[error("is not a sealed value")]
    Malformed,
}

/// The keys a store seals and opens with: the current one seals; any opens.
#[derive(Debug, Clone)]
pub struct KeyRing {
    current: Key,
    older: Vec<Key>,
}

impl KeyRing {
    pub fn new(current: Key) -> Self {
        Self {
            current,
            older: Vec::new(),
        }
    }

    /// This ring, also opening what `older` sealed.
    pub fn with_older(mut self, older: Key) -> Self {
        if older.id() != self.current.id() {
            self.older.push(older);
        }
        self
    }

    pub fn current(&self) -> &Key {
        &self.current
    }

    fn key(&self, id: &str) -> Option<&Key> {
        std::iter::once(&self.current)
            .chain(&self.older)
            .find(|k| k.id() == id)
    }

    /// `plain` sealed under the current key for `slot`.
    pub fn seal(&self, slot: &Slot<'_>, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .current
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: &slot.associated_data(),
                },
            )
            .expect("XChaCha20-Poly1305 seals any length a secret has");
        let mut body = Vec::with_capacity(NONCE_LEN + sealed.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&sealed);
        format!("{SEALED}{}:{}", self.current.id(), STANDARD.encode(body))
    }

    /// The secret `stored` holds at `slot`. A value that is not sealed (written in clear by a
    /// version before secrets were encrypted, and not yet sealed by a start) is read as it is.
    pub fn open(&self, slot: &Slot<'_>, stored: &str) -> Result<String, OpenError> {
        let Some(rest) = stored.strip_prefix(SEALED) else {
            return Ok(stored.to_owned());
        };
        let (id, body) = rest.split_once(':').ok_or(OpenError::Malformed)?;
        let key = self
            .key(id)
            .ok_or_else(|| OpenError::UnknownKey(id.to_owned()))?;
        let body = STANDARD.decode(body).map_err(|_| OpenError::Malformed)?;
        if body.len() < NONCE_LEN {
            return Err(OpenError::Malformed);
        }
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        let plain = key
            .cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &slot.associated_data(),
                },
            )
            .map_err(|_| OpenError::Rejected(id.to_owned()))?;
        String::from_utf8(plain).map_err(|_| OpenError::Malformed)
    }

    /// Whether `stored` is sealed (by any key).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(SEALED)
    }

    /// The id of the key `stored` was sealed with, if it is sealed.
    pub fn key_id_of(stored: &str) -> Option<&str> {
        stored
            .strip_prefix(SEALED)?
            .split_once(':')
            .map(|(id, _)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOT: Slot<'static> = Slot {
        column: "webhook_endpoints.secret",
        account: "acc_1",
        row: "wh_1",
    };

    #[test]
    fn a_sealed_value_opens_only_where_it_was_sealed() {
        let ring = KeyRing::new(Key::generate());
        let sealed = ring.seal(&SLOT, "whsec_topsecret");
        assert!(!sealed.contains("topsecret"));
        assert_eq!(KeyRing::key_id_of(&sealed), Some(ring.current().id()));
        assert_eq!(ring.open(&SLOT, &sealed).unwrap(), "whsec_topsecret");
        for moved in [
            Slot {
                row: "wh_2",
                ..SLOT
            },
            Slot {
                account: "acc_2",
                ..SLOT
            },
            Slot {
                column: "trunks.secret",
                ..SLOT
            },
        ] {
            assert_eq!(
                ring.open(&moved, &sealed),
                Err(OpenError::Rejected(ring.current().id().to_owned()))
            );
        }
        // Two seals of one secret differ (a fresh nonce each).
        assert_ne!(ring.seal(&SLOT, "x"), ring.seal(&SLOT, "x"));
    }

    #[test]
    fn another_key_does_not_open_and_an_older_one_in_the_ring_does() {
        let old = Key::generate();
        let sealed = KeyRing::new(old.clone()).seal(&SLOT, "pw");
        let new = KeyRing::new(Key::generate());
        assert_eq!(
            new.open(&SLOT, &sealed),
            Err(OpenError::UnknownKey(old.id().to_owned()))
        );
        let both = new.clone().with_older(old);
        assert_eq!(both.open(&SLOT, &sealed).unwrap(), "pw");
        assert_eq!(
            KeyRing::key_id_of(&both.seal(&SLOT, "pw")),
            Some(new.current().id())
        );
    }

    #[test]
    fn an_altered_value_is_refused_and_a_clear_one_reads_as_it_is() {
        let ring = KeyRing::new(Key::generate());
        let mut sealed = ring.seal(&SLOT, "secret").into_bytes();
        let last = sealed.len() - 3;
        sealed[last] = if sealed[last] == b'A' { b'B' } else { b'A' };
        let sealed = String::from_utf8(sealed).unwrap();
        assert!(matches!(
            ring.open(&SLOT, &sealed),
            Err(OpenError::Rejected(_) | OpenError::Malformed)
        ));
        assert_eq!(ring.open(&SLOT, "plain").unwrap(), "plain");
        assert!(!KeyRing::is_sealed("plain"));
        assert_eq!(
            ring.open(&SLOT, "enc:v1:nocolon"),
            Err(OpenError::Malformed)
        );
    }

    #[test]
    fn a_key_round_trips_through_its_text_with_its_id() {
        let key = Key::generate();
        assert_eq!(key.id().len(), 8);
        let text = format!("# a comment\n\n{}\n", key.to_text());
        let back = Key::from_text(&text).unwrap();
        assert_eq!(back.id(), key.id());
        assert!(!format!("{back:?}").contains(&key.to_text()[5..]));
        assert_eq!(Key::from_text("# only\n").unwrap_err(), KeyTextError::Empty);
        assert_eq!(
            Key::from_text("rbk1:AAAA").unwrap_err(),
            KeyTextError::NotAKey
        );
        let two = format!("{}\n{}\n", key.to_text(), key.to_text());
        assert_eq!(Key::from_text(&two).unwrap_err(), KeyTextError::MoreThanOne);
    }
}
