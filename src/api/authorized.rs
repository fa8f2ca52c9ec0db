//! `Authorized<S>`: a caller that holds scope `S`, checked while the request is extracted.
//!
//! Axum runs a handler's extractors in order, so a handler that takes
//! `caller: Authorized<scope::Admin>` before its `ApiJson` body or `ApiQuery` is refused with
//! `403 forbidden` before its body or query is read: a key without the scope learns nothing
//! about what a valid request would look like, and never gets a `400` for one that is not.

use std::{marker::PhantomData, ops::Deref};

use axum::{extract::FromRequestParts, http::request::Parts};

use super::{
    auth::{Caller, require},
    error::ApiError,
};
use crate::app::AppState;
use crate::domain::Scope;

/// A scope a handler needs, as a type.
pub trait Needed {
    const SCOPE: Scope;
}

/// The scopes as types, one per [`Scope`].
pub mod scope {
    use super::{Needed, Scope};

    macro_rules! scopes {
        ($($name:ident),* $(,)?) => {$(
            #[doc = concat!("The `", stringify!($name), "` scope.")]
            pub struct $name;
            impl Needed for $name {
                const SCOPE: Scope = Scope::$name;
            }
        )*};
    }

    scopes!(
        CallbacksRead,
        CallbacksWrite,
        CampaignsRead,
        CampaignsWrite,
        ContactsRead,
        ContactsWrite,
        AgentsRead,
        AgentsWrite,
        WebhooksWrite,
        Admin,
    );
}

/// An authenticated caller holding scope `S`; derefs to the [`Caller`].
pub struct Authorized<S> {
    caller: Caller,
    scope: PhantomData<S>,
}

impl<S: Needed> Authorized<S> {
    /// `caller`, if it holds the scope (for callers found another way: the Callback Manager
    /// calls the API's handlers with the signed-in user as principal).
    pub fn check(caller: Caller) -> Result<Self, ApiError> {
        require(&caller, S::SCOPE)?;
        Ok(Self {
            caller,
            scope: PhantomData,
        })
    }
}

impl<S> Deref for Authorized<S> {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl<S: Needed + Send + Sync> FromRequestParts<AppState> for Authorized<S> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Self::check(Caller::from_request_parts(parts, state).await?)
    }
}
