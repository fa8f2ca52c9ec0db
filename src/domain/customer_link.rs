//! The customer's link to one callback: `{public_url}/c/{token}`, shown as the callback's
//! `customer_link` and carried by every confirmation and reminder.
//!
//! The token names one callback and its account and nothing else (no phone, no name): the two
//! ids' 16 ULID bytes each, then the first 16 bytes of HMAC-SHA256 over them (with a label, so
//! the key signs nothing else by accident), 48 bytes written in unpadded base64url: 64
//! characters, short enough for a text message. The key is the server's own
//! ([`LINK_KEY_NAME`]), made once and shared by every node through the database; no account
//! holds it, so neither a webhook receiver nor a rotated webhook secret can forge or void a
//! link already sent to a customer.
//!
//! A token is valid while its callback is not ended ([`usable`]): a tampered one is
//! [`LinkError::Invalid`] (404), one whose callback ended [`LinkError::Gone`] (410).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::{AccountId, CallbackId, SigningSecret, Status};

/// The name the customer links' key is kept under in the server's secrets.
pub const LINK_KEY_NAME: &str = "customer_link";

/// What the signature covers besides the two ids: a label and a version.
const LABEL: &[u8] = b"ringback customer link v1\0";
/// Bytes of the HMAC a token keeps.
const TAG_BYTES: usize = 16;
/// Bytes of a token: two ULIDs and the tag.
const TOKEN_BYTES: usize = 16 + 16 + TAG_BYTES;

/// Why a token opens nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// Not a token this server signed (tampered, cut short, made up): 404.
    Invalid,
    /// A good token whose callback has ended (a final status): 410.
    Gone,
}

/// The callback a verified token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedCallback {
    pub account_id: AccountId,
    pub callback_id: CallbackId,
}

fn ulid_bytes(id: &str, prefix: &str) -> Option<[u8; 16]> {
    let ulid = ulid::Ulid::from_string(id.strip_prefix(prefix)?).ok()?;
    Some(ulid.to_bytes())
}

fn signed_message(ids: &[u8]) -> Vec<u8> {
    [LABEL, ids].concat()
}

/// The token of `callback` of `account`, signed with `key`.
pub fn issue(key: &SigningSecret, account: &AccountId, callback: &CallbackId) -> String {
    let mut bytes = Vec::with_capacity(TOKEN_BYTES);
    // Ids come from our own store or `parse`, so they hold a ULID after their prefix.
    bytes.extend(ulid_bytes(callback.as_str(), CallbackId::PREFIX).unwrap_or_default());
    bytes.extend(ulid_bytes(account.as_str(), AccountId::PREFIX).unwrap_or_default());
    let tag = key.hmac(&signed_message(&bytes));
    bytes.extend(&tag[..TAG_BYTES]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The callback a token names, if `key` signed it.
pub fn verify(key: &SigningSecret, token: &str) -> Result<LinkedCallback, LinkError> {
    if token.len() != 64 {
        return Err(LinkError::Invalid);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| LinkError::Invalid)?;
    if bytes.len() != TOKEN_BYTES {
        return Err(LinkError::Invalid);
    }
    let (ids, tag) = bytes.split_at(32);
    if !key.hmac_prefix_valid(&signed_message(ids), tag) {
        return Err(LinkError::Invalid);
    }
    let ulid = |b: &[u8]| {
        let raw: [u8; 16] = b.try_into().expect("16 bytes");
        ulid::Ulid::from_bytes(raw).to_string()
    };
    Ok(LinkedCallback {
        callback_id: CallbackId::from_trusted(format!(
            "{}{}",
            CallbackId::PREFIX,
            ulid(&ids[..16])
        )),
        account_id: AccountId::from_trusted(format!("{}{}", AccountId::PREFIX, ulid(&ids[16..]))),
    })
}

/// Whether a link to a callback in `status` still opens: while the callback is not ended. The
/// one rule of a link's expiry; the customer page asks it after [`verify`] and reading the
/// callback (a callback reopened after it ended opens again).
pub fn usable(status: Status) -> Result<(), LinkError> {
    match status.is_final() {
        true => Err(LinkError::Gone),
        false => Ok(()),
    }
}

/// Makes the links of callbacks: the server's public URL and the key.
#[derive(Debug, Clone)]
pub struct CustomerLinks {
    /// `--public-url` without a trailing `/`; empty when none is configured, which makes
    /// links relative (`/c/{token}`).
    base: String,
    key: SigningSecret,
}

impl CustomerLinks {
    pub fn new(public_url: Option<&url::Url>, key: SigningSecret) -> Self {
        Self {
            base: public_url
                .map(|u| u.as_str().trim_end_matches('/').to_owned())
                .unwrap_or_default(),
            key,
        }
    }

    pub fn key(&self) -> &SigningSecret {
        &self.key
    }

    /// `{public_url}/c/{token}` of `callback` (relative without a public URL).
    pub fn link(&self, account: &AccountId, callback: &CallbackId) -> String {
        format!("{}/c/{}", self.base, issue(&self.key, account, callback))
    }

    pub fn verify(&self, token: &str) -> Result<LinkedCallback, LinkError> {
        verify(&self.key, token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningSecret {
        SigningSecret::generate()
    }

    #[test]
    fn a_token_names_its_callback_and_account_and_nothing_else() {
        let key = key();
        let (account, callback) = (AccountId::generate(), CallbackId::generate());
        let token = issue(&key, &account, &callback);
        assert_eq!(token.len(), 64);
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(
            verify(&key, &token),
            Ok(LinkedCallback {
                account_id: account,
                callback_id: callback
            })
        );
    }

    #[test]
    fn a_tampered_token_or_another_key_is_invalid() {
        let key = key();
        let token = issue(&key, &AccountId::generate(), &CallbackId::generate());
        assert_eq!(
            verify(&SigningSecret::generate(), &token),
            Err(LinkError::Invalid)
        );
        // Every single-character change of the ids or the tag is caught.
        for i in 0..token.len() {
            let mut chars: Vec<char> = token.chars().collect();
            chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
            let changed: String = chars.into_iter().collect();
            assert_eq!(verify(&key, &changed), Err(LinkError::Invalid), "at {i}");
        }
        assert_eq!(verify(&key, &token[..63]), Err(LinkError::Invalid));
        assert_eq!(verify(&key, ""), Err(LinkError::Invalid));
        assert_eq!(verify(&key, &"%".repeat(64)), Err(LinkError::Invalid));
    }

    #[test]
    fn a_link_opens_until_its_callback_ends() {
        for status in Status::ALL {
            let expected = match status.is_final() {
                true => Err(LinkError::Gone),
                false => Ok(()),
            };
            assert_eq!(usable(status), expected, "{status:?}");
        }
        assert_eq!(usable(Status::Scheduled), Ok(()));
        assert_eq!(usable(Status::Canceled), Err(LinkError::Gone));
    }

    #[test]
    fn links_are_absolute_under_the_public_url_and_relative_without_one() {
        let key = key();
        let (account, callback) = (AccountId::generate(), CallbackId::generate());
        let token = issue(&key, &account, &callback);
        let url = url::Url::parse("https://callbacks.example.com/").unwrap();
        assert_eq!(
            CustomerLinks::new(Some(&url), key.clone()).link(&account, &callback),
            format!("https://callbacks.example.com/c/{token}")
        );
        assert_eq!(
            CustomerLinks::new(None, key).link(&account, &callback),
            format!("/c/{token}")
        );
    }
}
