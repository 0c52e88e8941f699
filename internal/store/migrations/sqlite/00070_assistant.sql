-- +goose Up
-- The assistant of a chatbot: provider, prompt, tools and budgets. No row
-- means the built-in provider with nothing enabled. api_key and each HTTP
-- tool's secret (inside tools) are sealed with the organization's data key.
CREATE TABLE assistant_configs (
    chatbot_id      TEXT PRIMARY KEY REFERENCES chatbots(id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    provider        TEXT NOT NULL CHECK (provider IN ('builtin', 'openai', 'azure-openai', 'anthropic')),
    base_url        TEXT NOT NULL DEFAULT '',
    api_version     TEXT NOT NULL DEFAULT '',
    model           TEXT NOT NULL DEFAULT '',
    temperature     REAL,
    max_tokens      INTEGER NOT NULL DEFAULT 0,
    system_prompt   TEXT NOT NULL DEFAULT '',
    api_key         BLOB,
    tools           TEXT NOT NULL DEFAULT '{}',
    budgets         TEXT NOT NULL DEFAULT '{}',
    history_tokens  INTEGER NOT NULL DEFAULT 0,
    default_country TEXT NOT NULL DEFAULT '',
    updated_at      INTEGER NOT NULL
);
CREATE INDEX assistant_configs_org ON assistant_configs(org_id);

-- Token usage of the assistant, per conversation.
CREATE TABLE assistant_usage (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    turns           INTEGER NOT NULL DEFAULT 0,
    input_tokens    INTEGER NOT NULL DEFAULT 0,
    output_tokens   INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX assistant_usage_org ON assistant_usage(org_id, updated_at);

-- +goose Down
DROP TABLE assistant_usage;
DROP TABLE assistant_configs;
