-- A callback booked into a slot of `GET /v1/availability` keeps the slot it took: its start
-- and end (milliseconds since the Unix epoch, UTC). NULL: not booked. A booking takes a place
-- in every slot of its queue that overlaps it.
ALTER TABLE callbacks ADD COLUMN slot_start BIGINT;
ALTER TABLE callbacks ADD COLUMN slot_end BIGINT;
-- The capacity count of a queue's slots (store/sql/slots.rs `takings`): the account's
-- bookings by start. Written once, at insert; the dispatch path never writes these columns.
CREATE INDEX callbacks_slot ON callbacks (account_id, slot_start) WHERE slot_start IS NOT NULL;
