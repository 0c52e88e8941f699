-- +goose Up
-- The Wake: one Merkle log per organization (org_id 'system' for events with
-- no tenant). audit_heads serializes appends: a writer locks the head row
-- and moves tree_size only from the value it read.
CREATE TABLE audit_heads (
    org_id    TEXT PRIMARY KEY,
    tree_size BIGINT NOT NULL,
    last_time BIGINT NOT NULL
);

CREATE TABLE audit_entries (
    org_id          TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    time            BIGINT NOT NULL,
    actor_kind      TEXT NOT NULL,
    actor_id        TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    action          TEXT NOT NULL,
    target          TEXT NOT NULL,
    reason          TEXT NOT NULL,
    payload         BYTEA,
    salt            BYTEA,
    commitment      BYTEA NOT NULL,
    purged          BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (org_id, seq)
);
CREATE INDEX audit_entries_time ON audit_entries(org_id, time);
CREATE INDEX audit_entries_conversation ON audit_entries(org_id, conversation_id) WHERE conversation_id <> '';

CREATE TABLE audit_hashes (
    org_id TEXT NOT NULL,
    idx    BIGINT NOT NULL,
    hash   BYTEA NOT NULL,
    PRIMARY KEY (org_id, idx)
);

CREATE TABLE audit_checkpoints (
    org_id TEXT NOT NULL,
    size   BIGINT NOT NULL,
    root   BYTEA NOT NULL,
    time   BIGINT NOT NULL,
    note   BYTEA NOT NULL,
    PRIMARY KEY (org_id, size)
);

-- Each tenant reads and appends its own log; the system scope (the audit
-- writer, checkpointer and the 'system' log) reaches every log.
ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_heads
    USING (org_id = current_setting('porthole.org_id', true))
    WITH CHECK (org_id = current_setting('porthole.org_id', true));
CREATE POLICY system_scope ON audit_heads
    USING (current_setting('porthole.scope', true) = 'system')
    WITH CHECK (current_setting('porthole.scope', true) = 'system');

ALTER TABLE audit_entries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_entries
    USING (org_id = current_setting('porthole.org_id', true))
    WITH CHECK (org_id = current_setting('porthole.org_id', true));
CREATE POLICY system_scope ON audit_entries
    USING (current_setting('porthole.scope', true) = 'system')
    WITH CHECK (current_setting('porthole.scope', true) = 'system');

ALTER TABLE audit_hashes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_hashes
    USING (org_id = current_setting('porthole.org_id', true))
    WITH CHECK (org_id = current_setting('porthole.org_id', true));
CREATE POLICY system_scope ON audit_hashes
    USING (current_setting('porthole.scope', true) = 'system')
    WITH CHECK (current_setting('porthole.scope', true) = 'system');

ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_checkpoints
    USING (org_id = current_setting('porthole.org_id', true))
    WITH CHECK (org_id = current_setting('porthole.org_id', true));
CREATE POLICY system_scope ON audit_checkpoints
    USING (current_setting('porthole.scope', true) = 'system')
    WITH CHECK (current_setting('porthole.scope', true) = 'system');

-- The audit log is append-only for the server's role: no UPDATE of an
-- entry's fields other than the purge, no DELETE.
REVOKE DELETE ON audit_entries, audit_hashes, audit_checkpoints FROM porthole_app;

-- +goose Down
DROP TABLE audit_checkpoints;
DROP TABLE audit_hashes;
DROP TABLE audit_entries;
DROP TABLE audit_heads;
