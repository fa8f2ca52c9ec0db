//! Standard Webhooks signatures: `webhook-signature: v1,<base64(HMAC-SHA256(secret,
//! "<id>.<timestamp>.<body>"))>`, with secrets written `whsec_<base64 key>`.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// A signing secret. Its text is never logged (`Debug` hides it).
#[derive(Clone)]
pub struct SigningSecret(SecretString);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(***)")
    }
}

impl SigningSecret {
    /// A new random 32-byte secret.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self(SecretString::from(format!(
            "whsec_{}",
            STANDARD.encode(key)
        )))
    }

    /// Accepts `whsec_<base64>` of 24 to 64 bytes.
    pub fn parse(text: &str) -> Option<Self> {
        let key = STANDARD.decode(text.strip_prefix("whsec_")?).ok()?;
        (24..=64)
            .contains(&key.len())
            .then(|| Self(SecretString::from(text.to_owned())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    fn key(&self) -> Vec<u8> {
        let text = self.0.expose_secret();
        STANDARD
            .decode(text.strip_prefix("whsec_").unwrap_or(text))
            .unwrap_or_else(|_| text.as_bytes().to_vec())
    }

    /// Hex HMAC-SHA256 of `message` with this secret's key (signed URLs, such as the
    /// voicemail audio a provider fetches).
    pub fn hmac_hex(&self, message: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key()).expect("HMAC accepts keys of any length");
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `signature` is [`SigningSecret::hmac_hex`] of `message` (constant time).
    pub fn hmac_hex_valid(&self, message: &[u8], signature: &str) -> bool {
        let Ok(raw) = hex::decode(signature) else {
            return false;
        };
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key()).expect("HMAC accepts keys of any length");
        mac.update(message);
        mac.verify_slice(&raw).is_ok()
    }

    /// HMAC-SHA256 of `message` with this secret's key (customer links keep its first half).
    pub fn hmac(&self, message: &[u8]) -> [u8; 32] {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key()).expect("HMAC accepts keys of any length");
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is the start of [`SigningSecret::hmac`] of `message` (constant time; a
    /// tag shorter than 16 bytes never is).
    pub fn hmac_prefix_valid(&self, message: &[u8], tag: &[u8]) -> bool {
        if tag.len() < 16 {
            return false;
        }
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key()).expect("HMAC accepts keys of any length");
        mac.update(message);
        mac.verify_truncated_left(tag).is_ok()
    }

    /// The `webhook-signature` header value for a message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key()).expect("HMAC accepts keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example from the Standard Webhooks specification's reference implementations.
    #[test]
    fn signs_like_the_standard_webhooks_reference() {
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn generated_secrets_parse_and_hide_in_debug() {
        let s = SigningSecret::generate();
        assert!(SigningSecret::parse(s.expose()).is_some());
        assert_eq!(format!("{s:?}"), "SigningSecret(***)");
        assert!(SigningSecret::parse("whsec_c2hvcnQ=").is_none());
        assert!(SigningSecret::parse("nope").is_none());
    }
}
