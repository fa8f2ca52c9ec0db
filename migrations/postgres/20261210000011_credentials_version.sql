-- A counter bumped, in the same transaction, by every change of credentials (an API key
-- revoked or rotated, a JWT key set, replaced or removed). SQLite servers watch it for the
-- changes of other processes; on PostgreSQL the change's `NOTIFY ringback` tells the nodes,
-- and the counter is kept so both schemas stay the same.
CREATE TABLE credentials_version (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);

INSERT INTO credentials_version (id, version) VALUES (1, 0);
