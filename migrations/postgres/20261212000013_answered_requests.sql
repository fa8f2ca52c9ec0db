-- `answered` counts the requests of an attempt whose answer (or failure) was recorded. The
-- next request of the attempt is a resend when more were made than answered: an earlier one
-- may have reached the bridge. This replaces `callbacks.send_pending`.
ALTER TABLE callback_attempts ADD COLUMN answered BIGINT NOT NULL DEFAULT 0;

UPDATE callback_attempts SET answered = bridge_requests - CASE WHEN EXISTS (
    SELECT 1 FROM callbacks c
    WHERE c.id = callback_attempts.callback_id AND c.attempt = callback_attempts.number
      AND c.send_pending = 1
) THEN 1 ELSE 0 END
WHERE bridge_requests > 0;

ALTER TABLE callbacks DROP COLUMN send_pending;
