//! Prefixed, time-ordered identifiers (`cb_01J...`, `acc_01J...`).
//!
//! ULIDs sort by creation time, so they double as a stable pagination cursor.

use std::fmt;

macro_rules! prefixed_id {
    ($name:ident, $prefix:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, ulid::Ulid::new()))
            }

            /// Accepts any string with the right prefix and a valid ULID after it.
            pub fn parse(s: &str) -> Option<Self> {
                let rest = s.strip_prefix($prefix)?;
                ulid::Ulid::from_string(rest).ok()?;
                Some(Self(s.to_owned()))
            }

            /// Wraps a value read back from our own store.
            pub fn from_trusted(s: String) -> Self {
                Self(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
    };
}

prefixed_id!(CallbackId, "cb_");
prefixed_id!(AccountId, "acc_");
prefixed_id!(ApiKeyId, "key_");
prefixed_id!(WebhookEndpointId, "whe_");
prefixed_id!(AgentId, "agt_");
prefixed_id!(QueueId, "que_");
prefixed_id!(ContactId, "ctc_");
prefixed_id!(CampaignId, "cmp_");
prefixed_id!(UserId, "usr_");
prefixed_id!(TrunkId, "trk_");
prefixed_id!(AudioId, "aud_");
