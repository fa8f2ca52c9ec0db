//! The part of the store interface that only the compatible dialects need.

use super::{ListFilter, StoreError};
use crate::domain::{AccountId, Callback};

/// One numbered page of callbacks and how many match in all.
#[derive(Debug, Clone)]
pub struct CallbackPage {
    pub callbacks: Vec<Callback>,
    pub total: u64,
}

#[async_trait::async_trait]
pub trait DialectStore: Send + Sync + 'static {
    /// Callbacks matching `filter` (its `before` and `limit` are ignored), newest first,
    /// skipping `offset` and returning at most `limit`, with the number that match in all.
    /// Vendor APIs page by number (`page`, `per_page`) and show a total, where the native API
    /// pages by cursor.
    async fn page_callbacks(
        &self,
        account: &AccountId,
        filter: &ListFilter,
        offset: u64,
        limit: u32,
    ) -> Result<CallbackPage, StoreError>;
}
