//! The part of the store interface that serves contacts.

use jiff::Timestamp;

use super::StoreError;
use crate::domain::{
    AccountId, Actor, FieldError, PhoneNumber,
    contact::{Contact, ContactPatch},
    ids::ContactId,
};

/// Which contacts to list, newest first.
#[derive(Debug, Default, Clone)]
pub struct ContactFilter {
    pub phone: Option<PhoneNumber>,
    /// Contacts created before this one (the previous page's last id).
    pub before: Option<ContactId>,
    pub limit: u32,
}

/// What an upsert did to one contact.
#[derive(Debug, Clone)]
pub enum Upserted {
    Created(Contact),
    Updated(Contact),
}

impl Upserted {
    pub fn contact(&self) -> &Contact {
        match self {
            Upserted::Created(c) | Upserted::Updated(c) => c,
        }
    }
}

#[async_trait::async_trait]
pub trait ContactStore: Send + Sync + 'static {
    /// Creates or updates, by phone within the account, one contact per patch (each names its
    /// phone), in one transaction with one audit entry each. A patch that cannot be applied
    /// (too many custom fields) answers its error and changes nothing; the others are kept.
    async fn upsert_contacts(
        &self,
        account: &AccountId,
        patches: &[ContactPatch],
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Vec<Result<Upserted, FieldError>>, StoreError>;
    async fn list_contacts(
        &self,
        account: &AccountId,
        filter: &ContactFilter,
    ) -> Result<Vec<Contact>, StoreError>;
    async fn get_contact(
        &self,
        account: &AccountId,
        id: &ContactId,
    ) -> Result<Option<Contact>, StoreError>;
    /// The account's contacts among `ids` (in no particular order; unknown ids are left out).
    async fn get_contacts(
        &self,
        account: &AccountId,
        ids: &[ContactId],
    ) -> Result<Vec<Contact>, StoreError>;
    /// The account's contact whose `external_id` this is.
    async fn contact_by_external_id(
        &self,
        account: &AccountId,
        external_id: &str,
    ) -> Result<Option<Contact>, StoreError>;
    /// Saves a contact's fields (not its phone); false if it does not exist, a
    /// `duplicate_external_id` error if another contact of the account has its `external_id`.
    async fn update_contact(
        &self,
        contact: &Contact,
        changed: &[String],
        actor: &Actor,
    ) -> Result<Result<bool, FieldError>, StoreError>;
    /// Deletes a contact for good (it is personal data); false if it does not exist.
    async fn delete_contact(
        &self,
        account: &AccountId,
        id: &ContactId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<bool, StoreError>;
}
