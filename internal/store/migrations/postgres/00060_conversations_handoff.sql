-- +goose Up
-- Issue 5: who handles a conversation (a lease), its state, retention and
-- analytics facts, contacts and their merges, internal notes, attachments.
--
-- The lease lives on the conversation row: holder '' is the assistant, any
-- other value is the user id of the agent holding it until lease_expires_at.
-- lease_version is bumped by every change of handling, so a take-over is a
-- compare-and-swap on it. assignee_id is who the conversation is assigned to
-- (the sharing policy "assigned_only" shows it to that agent); it survives a
-- release. contact_id is the contact the conversation is attached to, ''
-- meaning its own visitor; a merge re-points it, an undo points it back.
ALTER TABLE conversations ADD COLUMN state TEXT NOT NULL DEFAULT 'open'
    CHECK (state IN ('open', 'waiting', 'agent', 'closed'));
ALTER TABLE conversations ADD COLUMN holder TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN lease_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN lease_expires_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN assignee_id TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN contact_id TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN channel TEXT NOT NULL DEFAULT 'web';
ALTER TABLE conversations ADD COLUMN legal_hold BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN handed_off_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN agent_handled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversations ADD COLUMN closed_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX conversations_inbox ON conversations(org_id, state, updated_at);
CREATE INDEX conversations_contact ON conversations(org_id, contact_id);

-- Contacts are visitor rows: phone in E.164, email_verified when the email
-- came from a signed identity, merged_into when the row was folded into
-- another contact (the row stays, so its widget session keeps working and
-- an undo can restore it). automated marks bot traffic for analytics.
ALTER TABLE visitors ADD COLUMN phone TEXT NOT NULL DEFAULT '';
ALTER TABLE visitors ADD COLUMN email_verified BIGINT NOT NULL DEFAULT 0;
ALTER TABLE visitors ADD COLUMN channel TEXT NOT NULL DEFAULT 'web';
ALTER TABLE visitors ADD COLUMN merged_into TEXT NOT NULL DEFAULT '';
ALTER TABLE visitors ADD COLUMN automated BIGINT NOT NULL DEFAULT 0;
ALTER TABLE visitors ADD COLUMN automated_reason TEXT NOT NULL DEFAULT '';
CREATE INDEX visitors_phone ON visitors(org_id, phone);
CREATE INDEX visitors_email ON visitors(org_id, email);

-- A merge folds contact merged_id into survivor_id. snapshot holds what the
-- merge changed (the survivor's fields before, the re-pointed conversations
-- and visitors with their previous values) so an undo restores them.
CREATE TABLE contact_merges (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    survivor_id TEXT NOT NULL,
    merged_id   TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    actor       TEXT NOT NULL DEFAULT '',
    snapshot    TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    undone_at   BIGINT NOT NULL DEFAULT 0,
    undone_by   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX contact_merges_org ON contact_merges(org_id, created_at);

-- Internal notes of agents: never a conversation event, so nothing that
-- serves the widget (history, resume, fan-out) can reach them.
CREATE TABLE conversation_notes (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    author_id       TEXT NOT NULL,
    text            TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX conversation_notes_conv ON conversation_notes(org_id, conversation_id, created_at);

-- Attachments of conversation events: the blob lives in file storage under
-- storage_key; retention deletes the row and asks the file store to delete
-- the blob.
CREATE TABLE conversation_attachments (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL DEFAULT '',
    storage_key     TEXT NOT NULL,
    size_bytes      BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL
);
CREATE INDEX conversation_attachments_org ON conversation_attachments(org_id, created_at);

-- Row-level security exactly as in 00001.
ALTER TABLE contact_merges ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contact_merges
    USING (org_id = current_setting('porthole.org_id', true))
    WITH CHECK (org_id = current_setting('porthole.org_id', true));

ALTER TABLE conversation_notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON conversation_notes
    USING (org_id = current_setting('porthole.org_id', true))
    WITH CHECK (org_id = current_setting('porthole.org_id', true));

ALTER TABLE conversation_attachments ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON conversation_attachments
    USING (org_id = current_setting('porthole.org_id', true))
    WITH CHECK (org_id = current_setting('porthole.org_id', true));

-- +goose Down
DROP TABLE conversation_attachments;
DROP TABLE conversation_notes;
DROP TABLE contact_merges;
DROP INDEX visitors_email;
DROP INDEX visitors_phone;
DROP INDEX conversations_contact;
DROP INDEX conversations_inbox;
ALTER TABLE visitors DROP COLUMN automated_reason;
ALTER TABLE visitors DROP COLUMN automated;
ALTER TABLE visitors DROP COLUMN merged_into;
ALTER TABLE visitors DROP COLUMN channel;
ALTER TABLE visitors DROP COLUMN email_verified;
ALTER TABLE visitors DROP COLUMN phone;
ALTER TABLE conversations DROP COLUMN closed_at;
ALTER TABLE conversations DROP COLUMN agent_handled;
ALTER TABLE conversations DROP COLUMN handed_off_at;
ALTER TABLE conversations DROP COLUMN legal_hold;
ALTER TABLE conversations DROP COLUMN channel;
ALTER TABLE conversations DROP COLUMN contact_id;
ALTER TABLE conversations DROP COLUMN assignee_id;
ALTER TABLE conversations DROP COLUMN lease_expires_at;
ALTER TABLE conversations DROP COLUMN lease_version;
ALTER TABLE conversations DROP COLUMN holder;
ALTER TABLE conversations DROP COLUMN state;
