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
    content      BLOB,
    max_pages    INTEGER NOT NULL DEFAULT 0,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    error        TEXT NOT NULL DEFAULT '',
    pages_done   INTEGER NOT NULL DEFAULT 0,
    pages_total  INTEGER NOT NULL DEFAULT 0,
    chunk_count  INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    job_token    TEXT NOT NULL DEFAULT '',
    lease_until  INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    ingested_at  INTEGER,
    FOREIGN KEY (org_id, chatbot_id) REFERENCES chatbots(org_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX knowledge_sources_ns ON knowledge_sources(org_id, chatbot_id, id);
CREATE INDEX knowledge_sources_queue ON knowledge_sources(status, lease_until);

-- seq is the chunk's rowid and the FTS5 rowid: an INTEGER PRIMARY KEY so
-- VACUUM cannot renumber it.
CREATE TABLE knowledge_chunks (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    org_id     TEXT NOT NULL,
    chatbot_id TEXT NOT NULL,
    source_id  TEXT NOT NULL,
    ord        INTEGER NOT NULL,
    title      TEXT NOT NULL DEFAULT '',
    url        TEXT NOT NULL DEFAULT '',
    text       TEXT NOT NULL,
    embedding  BLOB,
    FOREIGN KEY (org_id, chatbot_id, source_id) REFERENCES knowledge_sources(org_id, chatbot_id, id) ON DELETE CASCADE
);
CREATE INDEX knowledge_chunks_ns ON knowledge_chunks(org_id, chatbot_id, source_id, ord);

-- Full text: ns holds one token naming the namespace, so a search matches
-- ns AND the query terms inside the index itself. Contentless: the text
-- lives once, in knowledge_chunks; the triggers keep the two in step, also
-- for cascading deletes.
CREATE VIRTUAL TABLE knowledge_fts USING fts5(
    ns, title, text,
    content = '', contentless_delete = 1,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
-- +goose StatementBegin
CREATE TRIGGER knowledge_chunks_ai AFTER INSERT ON knowledge_chunks BEGIN
    INSERT INTO knowledge_fts(rowid, ns, title, text)
    VALUES (new.seq, 'ns' || replace(new.org_id, '-', '') || replace(new.chatbot_id, '-', ''), new.title, new.text);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER knowledge_chunks_ad AFTER DELETE ON knowledge_chunks BEGIN
    DELETE FROM knowledge_fts WHERE rowid = old.seq;
END;
-- +goose StatementEnd

-- generation changes with every write to a namespace, so an in-process
-- cache of its vectors knows when it is stale.
CREATE TABLE knowledge_namespaces (
    org_id     TEXT NOT NULL,
    chatbot_id TEXT NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, chatbot_id),
    FOREIGN KEY (org_id, chatbot_id) REFERENCES chatbots(org_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE knowledge_namespaces;
DROP TRIGGER knowledge_chunks_ad;
DROP TRIGGER knowledge_chunks_ai;
DROP TABLE knowledge_fts;
DROP TABLE knowledge_chunks;
DROP TABLE knowledge_sources;
