-- Events on the dispatch path store the change, not the whole callback: `changes` holds the
-- fields of the callback's view the change set, `data` only the details beside them, and
-- `version` the callback's version after the change. `data.object` is rendered when the event
-- is read or delivered, from the latest earlier event of the callback that holds its whole
-- view and the changes since. Events written before this keep their object in `data`
-- (`changes` NULL), as every event off the dispatch path still does.
ALTER TABLE events ADD COLUMN changes TEXT;
ALTER TABLE events ADD COLUMN version INTEGER;
