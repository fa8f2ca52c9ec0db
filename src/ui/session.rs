//! Signing in and out, the session cookie, and the extractor that turns a request into the
//! [`Viewer`] who sent it.
//!
//! The cookie holds 32 random bytes (hex); the store keeps only their SHA-256. It is
//! `HttpOnly` (scripts cannot read it), `SameSite=Strict` (other sites' pages do not send it)
//! and `Secure` when the server is reached over https (`--public-url https://...`, or a proxy
//! saying `X-Forwarded-Proto: https`). Every request that changes something must also carry
//! the session's CSRF token in `X-CSRF-Token`; the page reads it from `GET /ui/api/session`.
//! Failed sign-ins are slowed (a fixed delay) and limited per e-mail address.

use std::{num::NonZeroU32, time::Duration};

use axum::{
    Json,
    extract::{FromRequestParts, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::{
    api::{error::ApiError, extract::ApiJson},
    domain::{
        Actor, ErrorCode, Principal, Scope,
        user::{
            Email, Role, SESSION_TTL, Session, SessionToken, User, dummy_password_hash,
            verify_password,
        },
    },
};

pub const COOKIE: &str = "ringback_session";
/// How long a failed sign-in takes at least, so guessing is slow.
const FAILED_SIGN_IN_DELAY: Duration = Duration::from_millis(400);

/// What the Callback Manager keeps between requests.
pub struct UiState {
    /// Set `Secure` on the cookie even without a proxy header (the public URL is https).
    pub secure_cookies: bool,
    /// Sign-in attempts per e-mail address: 10 a minute, in bursts of 5.
    sign_ins: DefaultKeyedRateLimiter<String>,
}

impl UiState {
    pub fn new(secure_cookies: bool) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(10).expect("non-zero"))
            .allow_burst(NonZeroU32::new(5).expect("non-zero"));
        Self {
            secure_cookies,
            sign_ins: RateLimiter::keyed(quota),
        }
    }
}

/// A signed-in user making a request, with the principal their actions run as.
pub struct Viewer {
    pub user: User,
    pub principal: Principal,
    token: SessionToken,
}

impl Viewer {
    pub fn is_supervisor(&self) -> bool {
        self.user.role == Role::Supervisor
    }

    /// Fails with 403 unless the viewer is a supervisor.
    pub fn require_supervisor(&self) -> Result<(), ApiError> {
        if self.is_supervisor() {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "only supervisors may do this",
            ))
        }
    }
}

/// What a user's actions run as. Both roles get the callback and agent scopes the handlers
/// check; what an agent user may reach is narrowed by the UI's endpoints, which only ever name
/// their own agent and the callbacks it may see.
fn principal(user: &User) -> Principal {
    Principal {
        account_id: user.account_id.clone(),
        actor: Actor::User(user.id.to_string()),
        scopes: vec![Scope::CallbacksWrite, Scope::AgentsWrite],
    }
}

fn cookie_token(headers: &HeaderMap) -> Option<SessionToken> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .and_then(|(_, value)| SessionToken::presented(value.trim()))
}

/// Compares two strings in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn csrf_refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::Forbidden,
        "missing or wrong CSRF token; send the session's csrf_token in X-CSRF-Token",
    )
    .field("X-CSRF-Token")
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token =
            cookie_token(&parts.headers).ok_or_else(|| ApiError::unauthorized("not signed in"))?;
        let (_, user) = state
            .store
            .find_session(&token.hash(), state.clock.now())
            .await?
            .ok_or_else(|| ApiError::unauthorized("the session has ended; sign in again"))?;
        let safe = parts.method == Method::GET || parts.method == Method::HEAD;
        if !safe {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !same(sent, &token.csrf()) {
                return Err(csrf_refused());
            }
        }
        Ok(Viewer {
            principal: principal(&user),
            user,
            token,
        })
    }
}

#[derive(Serialize)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub agent_id: Option<String>,
    pub account_id: String,
}

#[derive(Serialize)]
pub struct SessionView {
    pub user: UserView,
    /// Send in `X-CSRF-Token` on every request that changes something.
    pub csrf_token: String,
}

fn session_view(user: &User, token: &SessionToken) -> SessionView {
    SessionView {
        user: UserView {
            id: user.id.to_string(),
            email: user.email.as_str().to_owned(),
            role: user.role,
            agent_id: user.agent_id.as_ref().map(ToString::to_string),
            account_id: user.account_id.to_string(),
        },
        csrf_token: token.csrf(),
    }
}

/// The signed-in user and their CSRF token.
pub async fn me(viewer: Viewer) -> Json<SessionView> {
    Json(session_view(&viewer.user, &viewer.token))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state.ui.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"))
}

fn cookie(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("a cookie of hex and fixed text is a valid header")
}

/// Signs in with e-mail and password: sets the session cookie and answers the session.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<SignIn>,
) -> Result<Response, ApiError> {
    let email = Email::parse(&req.email, "email")?;
    if req.password.is_empty() || req.password.chars().count() > 1024 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            "must be 1 to 1024 characters",
        )
        .field("password"));
    }
    if state
        .ui
        .sign_ins
        .check_key(&email.as_str().to_owned())
        .is_err()
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "too many sign-in attempts for this address; wait a minute",
        )
        .with("retry_after_seconds", 60));
    }
    let found = state.store.find_user_by_email(&email).await?;
    let password = SecretString::from(req.password);
    let hash = found
        .as_ref()
        .map_or_else(|| dummy_password_hash().to_owned(), |(_, h)| h.clone());
    // Verified even for an unknown address, so both failures take as long.
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let user = match (found, ok) {
        (Some((user, _)), true) => user,
        _ => {
            tokio::time::sleep(FAILED_SIGN_IN_DELAY).await;
            tracing::info!(
                email_domain = email.as_str().split('@').nth(1).unwrap_or(""),
                "failed sign-in"
            );
            return Err(ApiError::unauthorized("wrong e-mail or password"));
        }
    };
    let token = SessionToken::generate();
    let now = state.clock.now();
    let session = Session {
        token_hash: token.hash(),
        user_id: user.id.clone(),
        account_id: user.account_id.clone(),
        created_at: now,
        expires_at: now + SESSION_TTL,
    };
    state.store.insert_session(&session).await?;
    tracing::info!(user_id = %user.id, account_id = %user.account_id, "signed in");
    let mut resp = Json(session_view(&user, &token)).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        cookie(
            token.expose(),
            SESSION_TTL.as_secs(),
            secure(&state, &headers),
        ),
    );
    Ok(resp)
}

/// Signs out: ends the session in the store and clears the cookie.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    viewer: Viewer,
) -> Result<Response, ApiError> {
    state.store.delete_session(&viewer.token.hash()).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie("", 0, secure(&state, &headers)));
    Ok(resp)
}
