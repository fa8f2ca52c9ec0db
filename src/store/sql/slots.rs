//! The SQL of slot bookings: what takes a queue's places, and a booking that counts them and
//! inserts in one write transaction.

use jiff::{SignedDuration, Timestamp};

use super::{ASSIGNEE_ROWS, DbConn, SqlStore, inserts::insert_one, moves, ms, ts};
use crate::domain::{AccountId, Actor, Callback, availability::Taken, ids::QueueId};
use crate::store::{
    IdempotentResponse, InsertOutcome, StoreError,
    slots::{BookingOutcome, SlotBooking, SlotStore},
};

/// The longest slot (`domain::availability::SlotLength`): a booking that starts this long
/// before a range cannot reach into it.
const LONGEST_SLOT: SignedDuration = SignedDuration::from_mins(240);

/// What takes places in `queue`'s slots between `from` and `to` (see
/// [`SlotStore::slot_takings`]), read on `conn`.
async fn takings(
    conn: &mut DbConn,
    account: &AccountId,
    queue: &QueueId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Taken>, StoreError> {
    let of_queue = format!(
        "account_id = $1 AND {active} AND assign_type = 'queue' \
         AND EXISTS (SELECT 1 FROM {ASSIGNEE_ROWS} WHERE j.value = $2)",
        active = moves::active(),
    );
    let booked: Vec<(i64, i64)> = sqlx::query_as(&format!(
        "SELECT slot_start, slot_end FROM callbacks WHERE {of_queue} \
         AND slot_start IS NOT NULL AND slot_start > $3 AND slot_start < $4 AND slot_end > $5"
    ))
    .bind(account.as_str())
    .bind(queue.as_str())
    .bind(ms(from.checked_sub(LONGEST_SLOT).unwrap_or(from)))
    .bind(ms(to))
    .bind(ms(from))
    .fetch_all(&mut *conn)
    .await?;
    let scheduled: Vec<(i64,)> = sqlx::query_as(&format!(
        "SELECT scheduled_at FROM callbacks WHERE {of_queue} \
         AND slot_start IS NULL AND scheduled_at >= $3 AND scheduled_at < $4"
    ))
    .bind(account.as_str())
    .bind(queue.as_str())
    .bind(ms(from))
    .bind(ms(to))
    .fetch_all(&mut *conn)
    .await?;
    let mut taken = Vec::with_capacity(booked.len() + scheduled.len());
    for (start, end) in booked {
        taken.push(Taken::Booked {
            start: ts(start)?,
            end: ts(end)?,
        });
    }
    for (at,) in scheduled {
        taken.push(Taken::Scheduled(ts(at)?));
    }
    Ok(taken)
}

/// Whether what takes `slot`'s places (a callback just booked into it among them) is more than
/// it has, read in the booking's write transaction.
pub(super) async fn over_capacity(
    conn: &mut DbConn,
    account: &AccountId,
    slot: &SlotBooking,
) -> Result<bool, StoreError> {
    let taken = takings(conn, account, &slot.queue, slot.start, slot.end)
        .await?
        .iter()
        .filter(|t| t.counts_in(slot.start, slot.end))
        .count();
    Ok(taken > slot.places as usize)
}

#[async_trait::async_trait]
impl SlotStore for SqlStore {
    async fn slot_takings(
        &self,
        account: &AccountId,
        queue: &QueueId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Taken>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        takings(&mut conn, account, queue, from, to).await
    }

    async fn book_slot(
        &self,
        callback: &Callback,
        allow_duplicate: bool,
        idempotency: Option<&IdempotentResponse>,
        actor: &Actor,
        slot: &SlotBooking,
    ) -> Result<BookingOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        let outcome = insert_one(&mut tx, callback, allow_duplicate, idempotency, actor).await?;
        if !matches!(outcome, InsertOutcome::Inserted) {
            tx.rollback().await?;
            return Ok(BookingOutcome::Stored(outcome));
        }
        sqlx::query(
            "UPDATE callbacks SET slot_start = $1, slot_end = $2 WHERE id = $3 AND account_id = $4",
        )
        .bind(ms(slot.start))
        .bind(ms(slot.end))
        .bind(callback.id.as_str())
        .bind(callback.account_id.as_str())
        .execute(&mut *tx)
        .await?;
        // The new callback is among what is counted: the slot holds it only if it fits.
        if over_capacity(&mut tx, &callback.account_id, slot).await? {
            tx.rollback().await?;
            return Ok(BookingOutcome::Full);
        }
        tx.commit().await?;
        self.wake_for(callback);
        self.events.notify();
        Ok(BookingOutcome::Stored(outcome))
    }
}
