-- A request to the dialer bridge is counted when it is sent, not when its callback is claimed:
-- a claim that a crash kept from the bridge is not a request, and the first request the bridge
-- really sees is not a resend.
--
-- `in_doubt` is 1 from just before a request of the attempt is sent until its answer is
-- recorded: the next request of the attempt, if any, is then a resend. It replaces
-- `callbacks.send_pending`, which was set when the callback was claimed.
ALTER TABLE callback_attempts ADD COLUMN in_doubt BIGINT NOT NULL DEFAULT 0;

UPDATE callback_attempts SET in_doubt = 1
WHERE EXISTS (
    SELECT 1 FROM callbacks c
    WHERE c.id = callback_attempts.callback_id AND c.attempt = callback_attempts.number
      AND c.send_pending = 1
);

ALTER TABLE callbacks DROP COLUMN send_pending;
