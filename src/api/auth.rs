//! Who is calling: `Authorization: Bearer <api key>`, resolved to an account.
//!
//! Key lookups are cached for a few seconds so authentication costs a hash and a map lookup,
//! not a query, on the hot path.

use std::{
    collections::HashMap,
    sync::RwLock,
    time::{Duration, Instant},
};

use axum::{extract::FromRequestParts, http::request::Parts};

use super::{AppState, error::ApiError};
use crate::domain::{AccountId, account::hash_api_key, ids::ApiKeyId};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: AccountId,
    pub key_id: ApiKeyId,
}

const CACHE_TTL: Duration = Duration::from_secs(5);
const CACHE_MAX: usize = 10_000;

#[derive(Default)]
pub struct KeyCache {
    entries: RwLock<HashMap<String, (Option<Caller>, Instant)>>,
}

impl KeyCache {
    fn get(&self, hash: &str) -> Option<Option<Caller>> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(caller, _)| caller.clone())
    }

    fn put(&self, hash: String, caller: Option<Caller>) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_MAX {
            entries.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if entries.len() >= CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(hash, (caller, Instant::now()));
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized("missing Authorization header; send Bearer <api key>")
            })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 512)
            .ok_or_else(|| {
                ApiError::unauthorized("malformed Authorization header; send Bearer <api key>")
            })?;
        let hash = hash_api_key(token);
        let caller = match state.keys.get(&hash) {
            Some(cached) => cached,
            None => {
                let found = state
                    .store
                    .find_api_key(&hash)
                    .await?
                    .filter(|k| k.revoked_at.is_none())
                    .map(|k| Caller {
                        account_id: k.account_id,
                        key_id: k.id,
                    });
                state.keys.put(hash, found.clone());
                found
            }
        };
        caller.ok_or_else(|| ApiError::unauthorized("unknown or revoked API key"))
    }
}
