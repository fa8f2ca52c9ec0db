//! The audit trail as a hash chain, and the salted hash that names a number once it is erased.
//!
//! Each account's sealed audit entries are numbered 1, 2, 3 ... (`chain_index`); entry `n`
//! stores the hash of entry `n - 1` (`prev_hash`) and its own hash ([`link_hash`]) over that
//! previous hash, its place, its metadata and the digest of its content. Editing an entry,
//! deleting one or swapping two changes a hash that a later entry (or the entry itself)
//! commits to, so [`verify`] names the first entry whose link does not hold.
//!
//! The personal part of an entry (its resource id, which for a do-not-call or consent entry
//! is the number, and its content) is committed to through one digest ([`content_digest`],
//! kept beside it): an erasure may replace it (`redacted`) without breaking the chain, and a
//! verifier then checks the stored digest in the chain instead of recomputing it. Retention deletes the oldest entries and moves the account's *anchor* (the index
//! and hash of the last deleted entry) forward in the same transaction, so the chain verifies
//! from the anchor on.
//!
//! Pure: no I/O, no clock.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The hash entry 1 of every account's chain links to: fixed, derived from the account.
pub fn genesis(account: &str) -> String {
    hex::encode(Sha256::digest(format!("ringback audit chain\n{account}")))
}

/// The digest of an entry's personal part: its resource id and its content (`changes` as
/// stored), each length-prefixed.
pub fn content_digest(resource_id: Option<&str>, changes: &str) -> String {
    let mut h = Sha256::new();
    match resource_id {
        Some(id) => {
            h.update([1]);
            h.update((id.len() as u64).to_be_bytes());
            h.update(id.as_bytes());
        }
        None => h.update([0]),
    }
    h.update((changes.len() as u64).to_be_bytes());
    h.update(changes.as_bytes());
    hex::encode(h.finalize())
}

/// The salted hash of a phone number (E.164) within one account: what compliance records keep
/// instead of the number. HMAC-SHA256 keyed by the account's salt, so equal numbers of two
/// accounts hash apart and a table of hashes of every number must be built per account.
pub fn subject_hash(salt: &str, e164: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(salt.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(e164.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// What an entry's link commits to: everything but its resource id and content, which are
/// committed through their digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    pub account_id: String,
    pub occurred_at_ms: i64,
    pub actor_type: String,
    pub actor_id: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub subject_hash: Option<String>,
    pub content_digest: String,
}

/// The hash of entry `index` of a chain, which follows the entry whose hash is `prev`.
pub fn link_hash(prev: &str, index: i64, entry: &Entry) -> String {
    let mut h = Sha256::new();
    // Every field is length-prefixed, so no two different entries encode alike.
    let mut field = |name: &str, value: &str| {
        h.update(name.as_bytes());
        h.update((value.len() as u64).to_be_bytes());
        h.update(value.as_bytes());
    };
    field("prev", prev);
    field("index", &index.to_string());
    field("seq", &entry.seq.to_string());
    field("account", &entry.account_id);
    field("at", &entry.occurred_at_ms.to_string());
    field("actor_type", &entry.actor_type);
    field("actor_id", &entry.actor_id);
    field("action", &entry.action);
    field("resource_type", &entry.resource_type);
    field("subject", entry.subject_hash.as_deref().unwrap_or("\0"));
    field("content", &entry.content_digest);
    hex::encode(h.finalize())
}

/// A sealed entry as stored, for [`verify`].
#[derive(Debug, Clone)]
pub struct Sealed {
    pub index: i64,
    pub prev_hash: String,
    pub entry_hash: String,
    pub entry: Entry,
    /// The content as stored now; `None` when an erasure replaced it and the resource id (then
    /// the stored digest stands for them).
    pub content: Option<String>,
}

/// Why a chain does not hold, naming the first entry that breaks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The chain index the chain breaks at.
    pub index: i64,
    /// The entry's `seq`, when an entry is there (a missing entry has none).
    pub seq: Option<i64>,
    pub reason: BreakReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakReason {
    /// No entry holds this index: one was deleted (or the indexes were renumbered).
    Missing,
    /// The entry's content does not match the digest the chain committed to: it was edited.
    ContentAltered,
    /// The entry does not hash to its stored hash: a field was edited, or it was moved.
    HashMismatch,
    /// The entry does not link to the hash of the entry before it: the one before was
    /// replaced, or entries were reordered.
    LinkBroken,
}

impl BreakReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::ContentAltered => "content_altered",
            Self::HashMismatch => "hash_mismatch",
            Self::LinkBroken => "link_broken",
        }
    }

    pub fn sentence(self) -> &'static str {
        match self {
            Self::Missing => "no entry holds this place in the chain: an entry was deleted",
            Self::ContentAltered => {
                "the entry's content does not match the digest the chain holds: it was edited"
            }
            Self::HashMismatch => {
                "the entry does not hash to its stored hash: a field was edited or the entry moved"
            }
            Self::LinkBroken => {
                "the entry does not link to the entry before it: entries were replaced or reordered"
            }
        }
    }
}

/// Walks one account's chain from its anchor (where retention left it: index 0 and
/// [`genesis`] when nothing was purged), fed its sealed entries in index order, and names the
/// first entry that breaks it. Fed in pages, so a long chain is never held whole.
#[derive(Debug, Clone)]
pub struct Verifier {
    expected_index: i64,
    prev: String,
    verified: u64,
}

impl Verifier {
    pub fn from_anchor(anchor_index: i64, anchor_hash: &str) -> Self {
        Self {
            expected_index: anchor_index + 1,
            prev: anchor_hash.to_owned(),
            verified: 0,
        }
    }

    /// The next entry, in index order.
    pub fn feed(&mut self, sealed: &Sealed) -> Result<(), Break> {
        if sealed.index != self.expected_index {
            return Err(Break {
                index: self.expected_index,
                seq: None,
                reason: BreakReason::Missing,
            });
        }
        let broken = |reason| Break {
            index: sealed.index,
            seq: Some(sealed.entry.seq),
            reason,
        };
        if let Some(content) = &sealed.content
            && content_digest(sealed.entry.resource_id.as_deref(), content)
                != sealed.entry.content_digest
        {
            return Err(broken(BreakReason::ContentAltered));
        }
        if link_hash(&sealed.prev_hash, sealed.index, &sealed.entry) != sealed.entry_hash {
            return Err(broken(BreakReason::HashMismatch));
        }
        if sealed.prev_hash != self.prev {
            return Err(broken(BreakReason::LinkBroken));
        }
        self.prev.clone_from(&sealed.entry_hash);
        self.expected_index += 1;
        self.verified += 1;
        Ok(())
    }

    /// Entries verified so far.
    pub fn verified(&self) -> u64 {
        self.verified
    }

    /// The index the next entry must have.
    pub fn next_index(&self) -> i64 {
        self.expected_index
    }

    /// After the last entry: the chain must reach its recorded head. `Ok(n)`: `n` entries
    /// verified.
    pub fn finish(self, head_index: i64) -> Result<u64, Break> {
        if self.expected_index <= head_index {
            return Err(Break {
                index: self.expected_index,
                seq: None,
                reason: BreakReason::Missing,
            });
        }
        Ok(self.verified)
    }
}

/// [`Verifier`] over a whole chain at once.
pub fn verify<'a>(
    anchor_index: i64,
    anchor_hash: &str,
    head_index: i64,
    entries: impl IntoIterator<Item = &'a Sealed>,
) -> Result<u64, Break> {
    let mut verifier = Verifier::from_anchor(anchor_index, anchor_hash);
    for sealed in entries {
        verifier.feed(sealed)?;
    }
    verifier.finish(head_index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, changes: &str) -> Entry {
        Entry {
            seq,
            account_id: "acc_1".into(),
            occurred_at_ms: 1_000 * seq,
            actor_type: "api_key".into(),
            actor_id: "key_1".into(),
            action: "callback.created".into(),
            resource_type: "callback".into(),
            resource_id: Some(format!("cb_{seq}")),
            subject_hash: None,
            content_digest: content_digest(Some(&format!("cb_{seq}")), changes),
        }
    }

    fn chain(n: i64) -> Vec<Sealed> {
        let mut prev = genesis("acc_1");
        (1..=n)
            .map(|i| {
                let content = format!("{{\"n\":{i}}}");
                let e = entry(i * 10, &content);
                let hash = link_hash(&prev, i, &e);
                let sealed = Sealed {
                    index: i,
                    prev_hash: prev.clone(),
                    entry_hash: hash.clone(),
                    entry: e,
                    content: Some(content),
                };
                prev = hash;
                sealed
            })
            .collect()
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let c = chain(5);
        assert_eq!(verify(0, &genesis("acc_1"), 5, &c), Ok(5));
    }

    #[test]
    fn an_edited_content_is_named() {
        let mut c = chain(5);
        c[2].content = Some("{\"n\":99}".into());
        let b = verify(0, &genesis("acc_1"), 5, &c).unwrap_err();
        assert_eq!(
            (b.index, b.seq, b.reason),
            (3, Some(30), BreakReason::ContentAltered)
        );
    }

    #[test]
    fn an_edited_field_is_named() {
        let mut c = chain(5);
        c[1].entry.actor_id = "key_2".into();
        let b = verify(0, &genesis("acc_1"), 5, &c).unwrap_err();
        assert_eq!((b.index, b.reason), (2, BreakReason::HashMismatch));
    }

    #[test]
    fn a_deleted_entry_is_named() {
        let mut c = chain(5);
        c.remove(3);
        let b = verify(0, &genesis("acc_1"), 5, &c).unwrap_err();
        assert_eq!((b.index, b.seq, b.reason), (4, None, BreakReason::Missing));
        // The last one deleted too: the head still counts it.
        let mut c = chain(5);
        c.pop();
        let b = verify(0, &genesis("acc_1"), 5, &c).unwrap_err();
        assert_eq!((b.index, b.reason), (5, BreakReason::Missing));
    }

    #[test]
    fn swapped_entries_are_named() {
        let mut c = chain(5);
        // Swap the places of entries 2 and 3 (their indexes follow their new places).
        c.swap(1, 2);
        c[1].index = 2;
        c[2].index = 3;
        let b = verify(0, &genesis("acc_1"), 5, &c).unwrap_err();
        assert_eq!(b.index, 2);
        assert_eq!(b.reason, BreakReason::HashMismatch);
    }

    #[test]
    fn a_redacted_entry_still_verifies_by_its_digest() {
        let mut c = chain(5);
        c[2].content = None;
        assert_eq!(verify(0, &genesis("acc_1"), 5, &c), Ok(5));
    }

    #[test]
    fn a_chain_verifies_from_its_anchor() {
        let c = chain(5);
        let anchor = c[1].entry_hash.clone();
        assert_eq!(verify(2, &anchor, 5, &c[2..]), Ok(3));
        // The wrong anchor breaks the first entry after it.
        let b = verify(2, &genesis("acc_1"), 5, &c[2..]).unwrap_err();
        assert_eq!((b.index, b.reason), (3, BreakReason::LinkBroken));
    }

    #[test]
    fn subject_hashes_differ_by_salt() {
        let a = subject_hash("salt-a", "+14155550100");
        assert_eq!(a, subject_hash("salt-a", "+14155550100"));
        assert_ne!(a, subject_hash("salt-b", "+14155550100"));
        assert!(!a.contains("4155550100"));
    }
}
