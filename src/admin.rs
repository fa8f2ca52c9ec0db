//! Operator actions shared by the CLI and tests: creating accounts and keys.

use jiff::Timestamp;

use crate::{
    domain::{
        Account, AccountId, Actor, ApiKey, ApiKeySecret, ErrorCode, FieldError, Scope,
        SigningSecret,
        ids::{AgentId, ApiKeyId},
        user::{Email, Role, User, check_new_password, hash_password},
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
        prefix: secret.prefix(),
        scopes: vec![Scope::Admin],
        created_at: now,
        revoked_at: None,
    };
    store.create_account(&account, &key).await?;
    Ok((account, secret))
}

/// Parses scope names (accepting the `schedule-callbacks:write` alias).
pub fn parse_scopes(names: &[String]) -> Result<Vec<Scope>, FieldError> {
    if names.is_empty() {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "scopes",
            "give at least one scope",
        ));
    }
    let mut scopes = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let scope = Scope::parse(name).ok_or_else(|| {
            FieldError::new(
                ErrorCode::InvalidField,
                format!("scopes[{i}]"),
                format!(
                    "unknown scope {name:?}; known: {}",
                    Scope::ALL.map(Scope::as_str).join(", ")
                ),
            )
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}

/// A new key for an account, with its secret.
pub fn new_key(
    account: &AccountId,
    name: &str,
    scopes: Vec<Scope>,
    now: Timestamp,
) -> Result<(ApiKey, ApiKeySecret), FieldError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "name",
            "must be 1 to 100 characters",
        ));
    }
    let secret = ApiKeySecret::generate();
    let key = ApiKey {
        id: ApiKeyId::generate(),
        account_id: account.clone(),
        name: name.to_owned(),
        hash: secret.hash(),
        prefix: secret.prefix(),
        scopes,
        created_at: now,
        revoked_at: None,
    };
    Ok((key, secret))
}

/// Creates a key for an account from the command line.
pub async fn create_key(
    store: &dyn Store,
    account: &AccountId,
    name: &str,
    scopes: &[String],
    now: Timestamp,
) -> Result<(ApiKey, ApiKeySecret), AdminError> {
    let scopes = parse_scopes(scopes)?;
    let (key, secret) = new_key(account, name, scopes, now)?;
    store.insert_api_key(&key, &Actor::Cli).await?;
    Ok((key, secret))
}

#[allow(clippy::too_many_arguments)]
/// Creates a user who signs in to the Callback Manager. An agent user names the agent they
/// work as; the password is hashed with argon2 and never stored.
pub async fn create_user(
    store: &dyn Store,
    account: &AccountId,
    email: &str,
    role: &str,
    agent: Option<&str>,
    password: &secrecy::SecretString,
    actor: &Actor,
    now: Timestamp,
) -> Result<User, AdminError> {
    let email = Email::parse(email, "email")?;
    let role = Role::parse(role).ok_or_else(|| {
        FieldError::new(
            ErrorCode::InvalidField,
            "role",
            "must be supervisor or agent",
        )
    })?;
    check_new_password(password, "password")?;
    let agent_id = match agent {
        Some(raw) => {
            let id = AgentId::parse(raw).ok_or_else(|| {
                FieldError::new(
                    ErrorCode::InvalidField,
                    "agent_id",
                    "not an agent id (agt_...)",
                )
            })?;
            if store.get_agent(account, &id).await?.is_none() {
                return Err(FieldError::new(
                    ErrorCode::InvalidField,
                    "agent_id",
                    format!("no agent {raw:?} in this account"),
                )
                .into());
            }
            Some(id)
        }
        None => None,
    };
    if store.signing_secret(account).await?.is_none() {
        return Err(FieldError::new(ErrorCode::InvalidField, "account", "no such account").into());
    }
    let user = User::new(account.clone(), email, role, agent_id, now)?;
    let pw = password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&pw))
        .await
        .map_err(|e| StoreError::Write(e.to_string()))?;
    if !store.insert_user(&user, &hash, actor).await? {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "email",
            "a user with this e-mail already exists",
        )
        .into());
    }
    Ok(user)
}
