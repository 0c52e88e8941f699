-- +goose Up
-- The Wake: one Merkle log per organization (org_id 'system' for events with
-- no tenant). audit_heads serializes appends: a writer moves tree_size only
-- from the value it read.
CREATE TABLE audit_heads (
    org_id    TEXT PRIMARY KEY,
    tree_size INTEGER NOT NULL,
    last_time INTEGER NOT NULL
);

CREATE TABLE audit_entries (
    org_id          TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    time            INTEGER NOT NULL,
    actor_kind      TEXT NOT NULL,
    actor_id        TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    action          TEXT NOT NULL,
    target          TEXT NOT NULL,
    reason          TEXT NOT NULL,
    payload         BLOB,
    salt            BLOB,
    commitment      BLOB NOT NULL,
    purged          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, seq)
) WITHOUT ROWID;
CREATE INDEX audit_entries_time ON audit_entries(org_id, time);
CREATE INDEX audit_entries_conversation ON audit_entries(org_id, conversation_id) WHERE conversation_id <> '';

CREATE TABLE audit_hashes (
    org_id TEXT NOT NULL,
    idx    INTEGER NOT NULL,
    hash   BLOB NOT NULL,
    PRIMARY KEY (org_id, idx)
) WITHOUT ROWID;

CREATE TABLE audit_checkpoints (
    org_id TEXT NOT NULL,
    size   INTEGER NOT NULL,
    root   BLOB NOT NULL,
    time   INTEGER NOT NULL,
    note   BLOB NOT NULL,
    PRIMARY KEY (org_id, size)
);

-- +goose Down
DROP TABLE audit_checkpoints;
DROP TABLE audit_hashes;
DROP TABLE audit_entries;
DROP TABLE audit_heads;
