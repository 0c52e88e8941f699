-- +goose Up
-- Full-text search on PostgreSQL, made to scale with the matches of a
-- query's rarer words rather than with the size of the table.
--
-- knowledge_chunks_matching finds the chunks of a namespace whose tsvector
-- matches a tsquery through the GIN index. Under row-level security the
-- planner never uses that index for the server's role: the @@ operator is
-- not leakproof, so it must run after the policy's filter, and every search
-- read the whole table. The function runs as its owner (who is not subject
-- to the policies) and applies the policy's own filter, the transaction's
-- porthole.org_id, plus the chatbot. It returns chunk ids only; the search
-- reads the chunks themselves as porthole_app, under row-level security,
-- so an id of another tenant's chunk would find nothing.
-- +goose StatementBegin
CREATE FUNCTION knowledge_chunks_matching(chatbot TEXT, query tsquery, max_rows INTEGER) RETURNS SETOF TEXT
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path FROM CURRENT ROWS 100 AS $$
BEGIN
    -- The fence (OFFSET 0) keeps the namespace filter out of the scan, so
    -- the planner takes the GIN index whatever its statistics say about
    -- the namespace's size; the search calls this only for namespaces
    -- larger than it ranks at once.
    RETURN QUERY EXECUTE 'SELECT m.id FROM (SELECT id, org_id, chatbot_id FROM knowledge_chunks WHERE tsv @@ $2 OFFSET 0) m
        WHERE m.org_id = current_setting(''porthole.org_id'', true) AND m.chatbot_id = $1
        LIMIT $3' USING chatbot, query, max_rows;
END
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION knowledge_chunks_matching(TEXT, tsquery, INTEGER) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION knowledge_chunks_matching(TEXT, tsquery, INTEGER) TO porthole_app;

-- New entries of a GIN index wait in a pending list that every search reads
-- in full until it is merged (at 4 MB by default, or by vacuum): after an
-- import of 10k chunks that was 3.5 ms of each search. At 256 kB the list
-- costs a search a few tenths of a millisecond; inserting chunks takes
-- about a third longer.
ALTER INDEX knowledge_chunks_tsv SET (gin_pending_list_limit = 256);

-- Document frequencies for full-text ranking on PostgreSQL: for each lexeme
-- of a namespace, how many of its chunks contain it, and how many chunks the
-- namespace has. A search reads the counts of its query's lexemes first, so
-- it ranks only the matches of the rarer ones (ts_rank reads every ranked
-- row from the heap) and weighs each lexeme by its inverse document
-- frequency. knowledge_store.go keeps both counts exact in
-- the transaction that inserts or deletes the chunks. SQLite needs neither:
-- FTS5 keeps its own statistics for BM25.
CREATE TABLE knowledge_lexemes (
    org_id     TEXT NOT NULL,
    chatbot_id TEXT NOT NULL,
    lexeme     TEXT NOT NULL,
    chunks     BIGINT NOT NULL CHECK (chunks > 0),
    PRIMARY KEY (org_id, chatbot_id, lexeme),
    FOREIGN KEY (org_id, chatbot_id) REFERENCES chatbots(org_id, id) ON DELETE CASCADE
);

ALTER TABLE knowledge_namespaces ADD COLUMN chunk_count BIGINT NOT NULL DEFAULT 0;

-- The counts of the chunks already stored.
INSERT INTO knowledge_lexemes (org_id, chatbot_id, lexeme, chunks)
SELECT c.org_id, c.chatbot_id, u.lexeme, count(*)
FROM knowledge_chunks c, unnest(c.tsv) u
GROUP BY c.org_id, c.chatbot_id, u.lexeme;
INSERT INTO knowledge_namespaces (org_id, chatbot_id, generation, chunk_count)
SELECT org_id, chatbot_id, 1, count(*) FROM knowledge_chunks GROUP BY org_id, chatbot_id
ON CONFLICT (org_id, chatbot_id) DO UPDATE SET chunk_count = excluded.chunk_count;

ALTER TABLE knowledge_lexemes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON knowledge_lexemes
    USING (org_id = current_setting('porthole.org_id', true))
    WITH CHECK (org_id = current_setting('porthole.org_id', true));

-- +goose Down
ALTER TABLE knowledge_namespaces DROP COLUMN chunk_count;
DROP TABLE knowledge_lexemes;
ALTER INDEX knowledge_chunks_tsv RESET (gin_pending_list_limit);
DROP FUNCTION knowledge_chunks_matching(TEXT, tsquery, INTEGER);
