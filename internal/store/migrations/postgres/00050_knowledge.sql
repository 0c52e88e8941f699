-- +goose Up
-- Knowledge base: one namespace per (org_id, chatbot_id). A source is also
-- its own ingestion job: status, progress and a lease live on its row, and
-- job_token tells a worker whose lease expired that it lost the job.
CREATE TABLE knowledge_sources (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    chatbot_id   TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('text', 'markdown', 'html', 'pdf', 'url', 'sitemap')),
    name         TEXT NOT NULL DEFAULT '',
    url          TEXT NOT NULL DEFAULT '',
    content      BYTEA,
    max_pages    INTEGER NOT NULL DEFAULT 0,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    error        TEXT NOT NULL DEFAULT '',
    pages_done   INTEGER NOT NULL DEFAULT 0,
    pages_total  INTEGER NOT NULL DEFAULT 0,
    chunk_count  INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    job_token    TEXT NOT NULL DEFAULT '',
    lease_until  BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    ingested_at  BIGINT,
    FOREIGN KEY (org_id, chatbot_id) REFERENCES chatbots(org_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX knowledge_sources_ns ON knowledge_sources(org_id, chatbot_id, id);
CREATE INDEX knowledge_sources_queue ON knowledge_sources(status, lease_until);

CREATE TABLE knowledge_chunks (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL,
    chatbot_id TEXT NOT NULL,
    source_id  TEXT NOT NULL,
    ord        INTEGER NOT NULL,
    title      TEXT NOT NULL DEFAULT '',
    url        TEXT NOT NULL DEFAULT '',
    text       TEXT NOT NULL,
    embedding  BYTEA,
    tsv        tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, title), 'A') || setweight(to_tsvector('english'::regconfig, text), 'B')
    ) STORED,
    FOREIGN KEY (org_id, chatbot_id, source_id) REFERENCES knowledge_sources(org_id, chatbot_id, id) ON DELETE CASCADE
);
CREATE INDEX knowledge_chunks_ns ON knowledge_chunks(org_id, chatbot_id, source_id, ord);
CREATE INDEX knowledge_chunks_tsv ON knowledge_chunks USING GIN (tsv);

-- generation changes with every write to a namespace, so an in-process
-- cache of its vectors knows when it is stale.
CREATE TABLE knowledge_namespaces (
    org_id     TEXT NOT NULL,
    chatbot_id TEXT NOT NULL,
    generation BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, chatbot_id),
    FOREIGN KEY (org_id, chatbot_id) REFERENCES chatbots(org_id, id) ON DELETE CASCADE
);

-- Row-level security exactly as in 00001. The ingestion worker claims jobs
-- across tenants under porthole.scope = 'system' (knowledge_store.go,
-- ClaimKnowledgeJob) and then works inside the job's own tenant.
ALTER TABLE knowledge_sources ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON knowledge_sources
    USING (org_id = current_setting('porthole.org_id', true))
    WITH CHECK (org_id = current_setting('porthole.org_id', true));
CREATE POLICY system_scope ON knowledge_sources
    USING (current_setting('porthole.scope', true) = 'system')
    WITH CHECK (current_setting('porthole.scope', true) = 'system');

ALTER TABLE knowledge_chunks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON knowledge_chunks
    USING (org_id = current_setting('porthole.org_id', true))
    WITH CHECK (org_id = current_setting('porthole.org_id', true));

ALTER TABLE knowledge_namespaces ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON knowledge_namespaces
    USING (org_id = current_setting('porthole.org_id', true))
    WITH CHECK (org_id = current_setting('porthole.org_id', true));

-- +goose Down
DROP TABLE knowledge_namespaces;
DROP TABLE knowledge_chunks;
DROP TABLE knowledge_sources;
