-- +goose Up
-- Widget settings per chatbot: active hours, CIDR lists, look defaults and
-- the identity secret (sealed with the secrets vault, org id as AD).
CREATE TABLE chatbot_widget_settings (
    chatbot_id          TEXT PRIMARY KEY REFERENCES chatbots(id) ON DELETE CASCADE,
    org_id              TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    greeting            TEXT NOT NULL DEFAULT '',
    color               TEXT NOT NULL DEFAULT '',
    position            TEXT NOT NULL DEFAULT 'right',
    language            TEXT NOT NULL DEFAULT '',
    time_zone           TEXT NOT NULL DEFAULT 'UTC',
    active_hours        TEXT NOT NULL DEFAULT '[]',
    allow_cidrs         TEXT NOT NULL DEFAULT '[]',
    deny_cidrs          TEXT NOT NULL DEFAULT '[]',
    offline_note        TEXT NOT NULL DEFAULT '',
    identity_secret     BLOB,
    identity_public_key TEXT NOT NULL DEFAULT '',
    updated_at          INTEGER NOT NULL
);
CREATE INDEX chatbot_widget_settings_org ON chatbot_widget_settings(org_id);

-- A visitor is anonymous, keyed by (org, session uuid); external_id is set
-- only from a verified identity.
CREATE TABLE visitors (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    session_id  TEXT NOT NULL,
    external_id TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL DEFAULT '',
    email       TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (org_id, session_id)
);

-- One conversation per (visitor, chatbot); last_seq numbers its events.
CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    chatbot_id TEXT NOT NULL REFERENCES chatbots(id) ON DELETE CASCADE,
    visitor_id TEXT NOT NULL REFERENCES visitors(id) ON DELETE CASCADE,
    last_seq   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org_id, visitor_id, chatbot_id)
);

-- Stored events of a conversation (messages, turn ends, forms), numbered by
-- seq. client_id makes a visitor's retry idempotent (NULL for the others).
CREATE TABLE conversation_events (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    role            TEXT NOT NULL DEFAULT '',
    text            TEXT NOT NULL DEFAULT '',
    client_id       TEXT,
    turn_id         TEXT NOT NULL DEFAULT '',
    data            TEXT NOT NULL DEFAULT '{}',
    created_at      INTEGER NOT NULL,
    UNIQUE (conversation_id, seq),
    UNIQUE (conversation_id, client_id)
);
CREATE INDEX conversation_events_org ON conversation_events(org_id, created_at);

-- +goose Down
DROP TABLE conversation_events;
DROP TABLE conversations;
DROP TABLE visitors;
DROP TABLE chatbot_widget_settings;
