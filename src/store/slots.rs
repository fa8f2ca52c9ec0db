//! The part of the store interface that books callbacks into a queue's slots
//! (`domain::availability`).

use jiff::Timestamp;

use super::{IdempotentResponse, InsertOutcome, StoreError};
use crate::domain::{AccountId, Actor, Callback, availability::Taken, ids::QueueId};

/// The slot a new callback is booked into, and how many places it has.
#[derive(Debug, Clone)]
pub struct SlotBooking {
    pub queue: QueueId,
    pub start: Timestamp,
    pub end: Timestamp,
    /// The slot's capacity (`domain::availability::Slot::capacity`), before what is taken.
    pub places: u32,
}

/// What became of a booking.
#[derive(Debug)]
pub enum BookingOutcome {
    /// Stored (or replayed, or a duplicate, as a plain insert answers).
    Stored(InsertOutcome),
    /// Every place was taken: nothing was stored.
    Full,
}

#[async_trait::async_trait]
pub trait SlotStore: Send + Sync + 'static {
    /// What takes places in the queue's slots between `from` and `to`: the account's active
    /// callbacks booked into a slot of the queue overlapping the range, and its other active
    /// callbacks assigned to the queue scheduled inside it.
    async fn slot_takings(
        &self,
        account: &AccountId,
        queue: &QueueId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Taken>, StoreError>;

    /// Stores `callback` (as `insert_callback` does: duplicate and idempotency checks, its
    /// `callback.created` event and audit entry) booked into `slot`, in one write transaction
    /// that counts what takes the slot's places ([`slot_takings`](Self::slot_takings)) with
    /// the new callback among them: over `slot.places`, nothing is stored and the answer is
    /// `Full`. The write transaction is the store's single writer, so two bookings of the last
    /// place cannot both see it free.
    async fn book_slot(
        &self,
        callback: &Callback,
        allow_duplicate: bool,
        idempotency: Option<&IdempotentResponse>,
        actor: &Actor,
        slot: &SlotBooking,
    ) -> Result<BookingOutcome, StoreError>;
}
