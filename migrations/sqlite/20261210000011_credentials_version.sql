-- A counter bumped, in the same transaction, by every change of credentials (an API key
-- revoked or rotated, a JWT key set, replaced or removed). A running SQLite server reads it
-- ten times a second, so a change made by another process (`ringback keys revoke`) clears
-- its authentication cache.
CREATE TABLE credentials_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;

INSERT INTO credentials_version (id, version) VALUES (1, 0);
