//! Operator actions shared by the CLI and tests: creating accounts and keys.

use jiff::Timestamp;

use crate::{
    domain::{
        Account, AccountId, ApiKey, ApiKeySecret, ErrorCode, FieldError, SigningSecret,
        ids::ApiKeyId,
    },
    store::{Store, StoreError},
};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates an account with a first API key. The key's secret is returned once; only its hash
/// is stored.
pub async fn create_account(
    store: &dyn Store,
    name: &str,
    now: Timestamp,
) -> Result<(Account, ApiKeySecret), AdminError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "name",
            "account name must be 1 to 200 characters",
        )
        .into());
    }
    let account = Account {
        id: AccountId::generate(),
        name: name.to_owned(),
        created_at: now,
        signing_secret: SigningSecret::generate(),
    };
    let secret = ApiKeySecret::generate();
    let key = ApiKey {
        id: ApiKeyId::generate(),
        account_id: account.id.clone(),
        name: "default".to_owned(),
        hash: secret.hash(),
        created_at: now,
        revoked_at: None,
    };
    store.create_account(&account, &key).await?;
    Ok((account, secret))
}
