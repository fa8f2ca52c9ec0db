-- When the network last said the contact's number does not exist (a call ended
-- `invalid_number`: SIP 404, 484, 604); null: not known to be invalid. An answered call to the
-- number clears it.
ALTER TABLE contacts ADD COLUMN phone_invalid_at INTEGER;
