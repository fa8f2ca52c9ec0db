//! The part of the store interface that serves the Callback Manager's lists and reports.

use jiff::Timestamp;

use super::StoreError;
use crate::domain::{
    AccountId, Callback, CallbackId, Origin, PhoneNumber, Status,
    report::{ReportAttempt, ReportCallback},
    webhook::Delivery,
};

/// The order of a callback search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchOrder {
    /// By creation (the id), newest first.
    #[default]
    NewestFirst,
    OldestFirst,
    /// By scheduled time, earliest first.
    ScheduledAsc,
    ScheduledDesc,
}

/// Where the previous page of a search stopped: its last row's sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchCursor {
    /// The scheduled time (ms) of the last row, for the scheduled orders.
    pub scheduled_ms: Option<i64>,
    pub id: CallbackId,
}

/// Filters of the Callback Manager's list; every page is read through an index in keyset
/// order.
#[derive(Debug, Clone, Default)]
pub struct CallbackSearch {
    pub status: Option<Status>,
    pub origin: Option<Origin>,
    /// Held by this agent or assigned to them.
    pub agent: Option<String>,
    /// Assigned to this queue.
    pub queue: Option<String>,
    /// An exact number.
    pub phone: Option<PhoneNumber>,
    /// The start of a number in E.164 (`+1415`).
    pub phone_prefix: Option<String>,
    pub scheduled_from: Option<Timestamp>,
    pub scheduled_to: Option<Timestamp>,
    pub order: SearchOrder,
    pub after: Option<SearchCursor>,
    pub limit: u32,
}

#[async_trait::async_trait]
pub trait ManagerStore: Send + Sync + 'static {
    async fn search_callbacks(
        &self,
        account: &AccountId,
        search: &CallbackSearch,
    ) -> Result<Vec<Callback>, StoreError>;

    /// The callbacks scheduled in `[from, to)` and their attempts, as reports count them.
    async fn report_data(
        &self,
        account: &AccountId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<(Vec<ReportCallback>, Vec<ReportAttempt>), StoreError>;

    /// The number of the account's latest event (its own numbering; 0 if none): where a live
    /// view starts.
    async fn last_event_seq(&self, account: &AccountId) -> Result<i64, StoreError>;

    /// The webhook deliveries of one callback's events, newest first.
    async fn callback_deliveries(
        &self,
        account: &AccountId,
        callback: &CallbackId,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;
}
