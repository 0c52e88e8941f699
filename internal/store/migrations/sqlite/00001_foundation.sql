-- +goose Up
-- The tenant. Every tenant table below carries org_id; the store reaches them
-- only through a handle bound to one organization.
CREATE TABLE organizations (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE memberships (
    org_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'agent', 'viewer')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE chatbots (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX chatbots_org ON chatbots(org_id, id);

CREATE TABLE allowed_origins (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    origin     TEXT NOT NULL,
    pattern    INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, origin)
);

CREATE TABLE org_settings (
    org_id                       TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    message_retention_days       INTEGER NOT NULL CHECK (message_retention_days >= 1),
    audit_payload_retention_days INTEGER NOT NULL CHECK (audit_payload_retention_days >= 1),
    channel_retention            TEXT NOT NULL DEFAULT '{}',
    updated_at                   INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    secret_hash  BLOB NOT NULL UNIQUE,
    scopes       TEXT NOT NULL DEFAULT '[]',
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_keys_org ON api_keys(org_id);

-- Per-organization data keys, wrapped by the operator's master key.
CREATE TABLE tenant_keys (
    org_id        TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    master_key_id TEXT NOT NULL,
    wrapped       BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- org_id is NULL for events where no tenant is known yet.
CREATE TABLE security_events (
    id         TEXT PRIMARY KEY,
    org_id     TEXT REFERENCES organizations(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL DEFAULT '',
    ip         TEXT NOT NULL DEFAULT '',
    request_id TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    data       TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
);
CREATE INDEX security_events_org ON security_events(org_id, created_at);

-- +goose Down
DROP TABLE security_events;
DROP TABLE tenant_keys;
DROP TABLE api_keys;
DROP TABLE org_settings;
DROP TABLE allowed_origins;
DROP TABLE chatbots;
DROP TABLE memberships;
DROP TABLE users;
DROP TABLE organizations;
