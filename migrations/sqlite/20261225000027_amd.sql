-- Answering-machine detection per callback (`detect`, `drop`; null: off). What the detector
-- found on each call goes in `calls.answered_by` (there since the calls table).
ALTER TABLE callbacks ADD COLUMN amd TEXT;
