-- How long a call of the callback may ring before it is CANCELed (the `sip` driver); null:
-- the server's --ring-timeout-seconds.
ALTER TABLE callbacks ADD COLUMN ring_timeout_seconds INTEGER;
