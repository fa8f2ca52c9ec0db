//! SQLite implementation of the dialects' store verbs.

use sqlx::{QueryBuilder, Row, Sqlite};

use super::{
    ListFilter, StoreError,
    dialects::{CallbackPage, DialectStore},
    sqlite::{CALLBACK_COLUMNS, SqliteStore, callback_from_row, ms},
};
use crate::domain::AccountId;

/// Appends the `WHERE` clause of `filter` (all but its cursor) for `account`.
fn push_filter(qb: &mut QueryBuilder<'_, Sqlite>, account: &AccountId, filter: &ListFilter) {
    qb.push(" WHERE account_id = ")
        .push_bind(account.as_str().to_owned());
    if let Some(phone) = &filter.phone {
        qb.push(" AND phone = ")
            .push_bind(phone.as_str().to_owned());
    }
    if let Some(status) = filter.status {
        qb.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(origin) = filter.origin {
        qb.push(" AND origin = ").push_bind(origin.as_str());
    }
    if let Some(assignee) = &filter.assignee {
        qb.push(
            " AND EXISTS (SELECT 1 FROM json_each(callbacks.assignees) WHERE json_each.value = ",
        )
        .push_bind(assignee.clone())
        .push(")");
    }
    if let Some(from) = filter.scheduled_from {
        qb.push(" AND scheduled_at >= ").push_bind(ms(from));
    }
    if let Some(to) = filter.scheduled_to {
        qb.push(" AND scheduled_at < ").push_bind(ms(to));
    }
}

#[async_trait::async_trait]
impl DialectStore for SqliteStore {
    async fn page_callbacks(
        &self,
        account: &AccountId,
        filter: &ListFilter,
        offset: u64,
        limit: u32,
    ) -> Result<CallbackPage, StoreError> {
        // One read transaction, so the total and the page agree.
        let mut tx = self.reader.begin().await?;
        let mut count: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT COUNT(*) FROM callbacks");
        push_filter(&mut count, account, filter);
        let total: i64 = count.build().fetch_one(&mut *tx).await?.try_get(0)?;
        let mut page: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {CALLBACK_COLUMNS} FROM callbacks"));
        push_filter(&mut page, account, filter);
        page.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(limit))
            .push(" OFFSET ")
            .push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
        let rows = page.build().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(CallbackPage {
            callbacks: rows
                .iter()
                .map(callback_from_row)
                .collect::<Result<_, _>>()?,
            total: u64::try_from(total).unwrap_or(0),
        })
    }
}
