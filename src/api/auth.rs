//! Who is calling and what they may do.
//!
//! A request carries an API key or a JWT, in `Authorization: Bearer <token>` or in the `auth`
//! header (the Kore.ai style). API keys are looked up by hash; a JWT is verified with the key
//! its account registered, with the account's one algorithm, `exp` required and `nbf`/`iat`
//! honoured, and its account and scopes come from its claims. Lookups are cached for a few
//! seconds, so authentication costs a hash and a map lookup, not a query, on the hot path. The
//! store's [`CredentialsSignal`] empties the cache whenever credentials change: through this
//! server at once, through another node or `ringback keys revoke` on PostgreSQL as soon as the
//! change's `NOTIFY` arrives (milliseconds), by `ringback keys revoke` beside a SQLite server
//! within [`CREDENTIALS_POLL`](crate::store::sqlite::CREDENTIALS_POLL). Each caller is then
//! rate limited.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, StatusCode, request::Parts},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::error::ApiError;
use crate::{
    app::AppState,
    domain::{
        AccountId, Actor, ErrorCode, JwtAlgorithm, JwtKey, Principal, Scope, account::hash_api_key,
    },
    store::CredentialsSignal,
};

/// The authenticated caller of a request.
pub type Caller = Principal;

/// Fails with 403 naming the scope when the caller lacks it.
pub fn require(caller: &Caller, scope: Scope) -> Result<(), ApiError> {
    if caller.has(scope) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!("this needs the {scope} scope"),
        )
        .with("required_scope", scope.as_str()))
    }
}

/// How long a lookup is kept at most. Changes made through Ringback empty the cache sooner (see
/// [`CredentialsSignal`]); this bounds only changes made behind its back, in the database.
const CACHE_TTL: Duration = Duration::from_secs(5);
const CACHE_MAX: usize = 10_000;
/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const JWT_LEEWAY_SECONDS: u64 = 30;

/// A small map with time-limited entries, each kept under the credentials generation read
/// before it was looked up and trusted only while that generation is current.
struct TtlCache<V> {
    entries: RwLock<HashMap<String, (V, Instant, u64)>>,
}

impl<V: Clone> Default for TtlCache<V> {
    fn default() -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
        }
    }
}

impl<V: Clone> TtlCache<V> {
    /// The entry, if it was kept under `generation` (`None`: trust nothing) and is fresh.
    fn get(&self, key: &str, generation: Option<u64>) -> Option<V> {
        let generation = generation?;
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(_, at, kept)| *kept == generation && at.elapsed() < CACHE_TTL)
            .map(|(v, _, _)| v.clone())
    }

    /// Keeps `value` under `generation`, read before it was looked up (`None`: keep nothing).
    fn put(&self, key: String, value: V, generation: Option<u64>) {
        let Some(generation) = generation else {
            return;
        };
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_MAX {
            entries.retain(|_, (_, at, kept)| *kept == generation && at.elapsed() < CACHE_TTL);
            if entries.len() >= CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(key, (value, Instant::now(), generation));
    }
}

/// Authentication state shared by all requests: caches and the rate limiter.
pub struct Authenticator {
    keys: TtlCache<Option<Principal>>,
    jwt_keys: TtlCache<Option<JwtKey>>,
    /// Raised by the store when credentials change, here or elsewhere: empties both caches.
    credentials: Arc<CredentialsSignal>,
    limiter: Option<DefaultKeyedRateLimiter<String>>,
}

impl Authenticator {
    /// `per_second` requests per caller with bursts of `burst`; 0 turns limiting off. The
    /// caches trust nothing from before the last raise of `credentials`.
    pub fn new(per_second: u32, burst: u32, credentials: Arc<CredentialsSignal>) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            keys: TtlCache::default(),
            jwt_keys: TtlCache::default(),
            credentials,
            limiter,
        }
    }

    fn check_rate(&self, caller: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(&caller.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                "too many requests for this key; slow down",
            )
            .with("retry_after_seconds", seconds.max(1))
        })
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::unauthorized(message)
}

/// The token a request carries, from `Authorization: Bearer` or the `auth` header.
fn presented_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let raw = match (headers.get("authorization"), headers.get("auth")) {
        (Some(v), _) => {
            let v = v
                .to_str()
                .map_err(|_| unauthorized("malformed Authorization header"))?;
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .ok_or_else(|| {
                    unauthorized("malformed Authorization header; send Bearer <api key or JWT>")
                })?
        }
        (None, Some(v)) => {
            let v = v
                .to_str()
                .map_err(|_| unauthorized("malformed auth header"))?;
            v.strip_prefix("Bearer ").unwrap_or(v)
        }
        (None, None) => {
            return Err(unauthorized(
                "missing credentials; send Authorization: Bearer <api key or JWT>",
            ));
        }
    };
    let token = raw.trim();
    if token.is_empty() || token.len() > 8192 {
        return Err(unauthorized("malformed credentials"));
    }
    Ok(token)
}

fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.matches('.').count() == 2
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    account_id: Option<String>,
    #[serde(rename = "accountId")]
    account_id_camel: Option<String>,
    scope: Option<String>,
    scopes: Option<Vec<String>>,
    iat: Option<i64>,
    exp: Option<i64>,
    nbf: Option<i64>,
}

impl Claims {
    fn account(&self) -> Option<&str> {
        self.account_id
            .as_deref()
            .or(self.account_id_camel.as_deref())
    }
}

/// Reads the claims before the signature is checked, only to find whose key verifies it.
fn unverified_account(token: &str, headers: &HeaderMap) -> Option<AccountId> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    let header_account = headers.get("accountid").and_then(|v| v.to_str().ok());
    AccountId::parse(claims.account().or(header_account)?)
}

fn algorithm(alg: JwtAlgorithm) -> Algorithm {
    match alg {
        JwtAlgorithm::HS256 => Algorithm::HS256,
        JwtAlgorithm::RS256 => Algorithm::RS256,
        JwtAlgorithm::ES256 => Algorithm::ES256,
    }
}

/// The verification key for a registered JWT setting; `None` if the key text is unusable.
pub fn decoding_key(key: &JwtKey) -> Option<DecodingKey> {
    let text = key.key.expose_secret();
    match key.algorithm {
        JwtAlgorithm::HS256 => Some(DecodingKey::from_secret(text.as_bytes())),
        JwtAlgorithm::RS256 => DecodingKey::from_rsa_pem(text.as_bytes()).ok(),
        JwtAlgorithm::ES256 => DecodingKey::from_ec_pem(text.as_bytes()).ok(),
    }
}

async fn authenticate_jwt(
    state: &AppState,
    token: &str,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    let invalid = || unauthorized("invalid token");
    let account = unverified_account(token, headers).ok_or_else(invalid)?;
    // Read before the lookup: a change committed during it leaves what it finds stale.
    let generation = state.auth.credentials.generation();
    let key = match state.auth.jwt_keys.get(account.as_str(), generation) {
        Some(cached) => cached,
        None => {
            let key = state.store.jwt_key(&account).await?;
            state
                .auth
                .jwt_keys
                .put(account.as_str().to_owned(), key.clone(), generation);
            key
        }
    };
    // An unknown account and one without a JWT key look the same from outside.
    let key = key.ok_or_else(invalid)?;
    let decoding = decoding_key(&key).ok_or_else(invalid)?;
    let mut validation = Validation::new(algorithm(key.algorithm));
    validation.algorithms = vec![algorithm(key.algorithm)];
    validation.leeway = JWT_LEEWAY_SECONDS;
    // Times are judged below against the server's clock, not by the library's own.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    let data = jsonwebtoken::decode::<Claims>(token, &decoding, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::MissingRequiredClaim(_) => unauthorized("token must carry exp"),
            _ => invalid(),
        }
    })?;
    let claims = data.claims;
    let now = state.clock.now().as_second();
    let leeway = JWT_LEEWAY_SECONDS as i64;
    if claims.exp.is_some_and(|exp| exp < now - leeway) {
        return Err(unauthorized("token expired"));
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + leeway) {
        return Err(unauthorized("token not yet valid"));
    }
    if claims.account() != Some(account.as_str())
        && !(claims.account().is_none() && headers.get("accountid").is_some())
    {
        return Err(invalid());
    }
    if claims.iat.is_some_and(|iat| iat > now + leeway) {
        return Err(unauthorized("token issued in the future"));
    }
    let names: Vec<String> = match (claims.scopes, claims.scope) {
        (Some(list), _) => list,
        (None, Some(text)) => text.split_whitespace().map(str::to_owned).collect(),
        (None, None) => Vec::new(),
    };
    Ok(Principal {
        account_id: account,
        actor: Actor::Jwt {
            subject: claims.sub.unwrap_or_else(|| "unknown".to_owned()),
        },
        scopes: names.iter().filter_map(|n| Scope::parse(n)).collect(),
    })
}

async fn authenticate_key(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let hash = hash_api_key(token);
    // Read before the lookup: a change committed during it leaves what it finds stale.
    let generation = state.auth.credentials.generation();
    let principal = match state.auth.keys.get(&hash, generation) {
        Some(cached) => cached,
        None => {
            let found = state
                .store
                .find_api_key(&hash)
                .await?
                .filter(|k| k.revoked_at.is_none())
                .map(|k| Principal {
                    account_id: k.account_id,
                    actor: Actor::ApiKey(k.id.to_string()),
                    scopes: k.scopes,
                });
            state.auth.keys.put(hash, found.clone(), generation);
            found
        }
    };
    principal.ok_or_else(|| unauthorized("unknown or revoked API key"))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = presented_token(&parts.headers)?;
        let principal = if looks_like_jwt(token) {
            authenticate_jwt(state, token, &parts.headers).await?
        } else {
            authenticate_key(state, token).await?
        };
        let limit_key = match &principal.actor {
            Actor::Jwt { subject } => format!("jwt:{}:{subject}", principal.account_id),
            other => other.id().to_owned(),
        };
        state.auth.check_rate(&limit_key)?;
        Ok(principal)
    }
}
