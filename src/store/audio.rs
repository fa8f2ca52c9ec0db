//! The part of the store interface that serves uploaded audio (`/v1/audio`) and the voicemail
//! message of a playbook.

use jiff::Timestamp;

use super::StoreError;
use crate::domain::{AccountId, Actor, audio::Audio, ids::AudioId, playbook::PlaybookId};

/// Why audio was not deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioDeletion {
    Deleted,
    NotFound,
    /// A playbook plays it (its `voicemail_audio_id`): `what` says which.
    InUse {
        what: String,
    },
}

#[async_trait::async_trait]
pub trait AudioStore: Send + Sync + 'static {
    /// Stores `audio` with `wav`, its bytes (an 8 kHz mono 16-bit PCM WAV file).
    async fn insert_audio(
        &self,
        audio: &Audio,
        wav: &[u8],
        actor: &Actor,
    ) -> Result<(), StoreError>;

    /// The account's audio, oldest first, without the bytes.
    async fn list_audio(&self, account: &AccountId) -> Result<Vec<Audio>, StoreError>;

    async fn get_audio(
        &self,
        account: &AccountId,
        id: &AudioId,
    ) -> Result<Option<Audio>, StoreError>;

    /// The bytes of the account's audio `id`: the 8 kHz mono WAV file.
    async fn audio_content(
        &self,
        account: &AccountId,
        id: &AudioId,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// Deletes the account's audio `id`, unless a playbook plays it: one not deleted, or a
    /// deleted one that a running or paused campaign still calls with.
    async fn delete_audio(
        &self,
        account: &AccountId,
        id: &AudioId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<AudioDeletion, StoreError>;

    /// The voicemail message of the account's playbook `playbook` (its `voicemail_audio_id`),
    /// as 8 kHz mono 16-bit samples ready to be encoded into RTP: what a call of that playbook
    /// plays after an answering machine's beep. `None` when the playbook names none (or does
    /// not exist). A deleted playbook still answers, for the campaigns that call with it.
    async fn voicemail_audio(
        &self,
        account: &AccountId,
        playbook: &PlaybookId,
    ) -> Result<Option<Vec<i16>>, StoreError>;
}
