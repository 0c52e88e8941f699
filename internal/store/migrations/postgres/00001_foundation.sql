-- +goose Up
-- The server runs its queries as porthole_app, a role that owns nothing, so
-- the row-level security policies below always apply to it. Migrations run
-- as the connecting (owner) role.
-- +goose StatementBegin
DO $$
BEGIN
    BEGIN
        CREATE ROLE porthole_app NOLOGIN NOBYPASSRLS;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
    END;
    BEGIN
        EXECUTE format('GRANT porthole_app TO %I', current_user);
    EXCEPTION WHEN OTHERS THEN
        NULL; -- superusers and members already may SET ROLE porthole_app
    END;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO porthole_app', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO porthole_app', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO porthole_app', current_schema());
END
$$;
-- +goose StatementEnd

CREATE TABLE organizations (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE memberships (
    org_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'agent', 'viewer')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE chatbots (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX chatbots_org ON chatbots(org_id, id);

CREATE TABLE allowed_origins (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    origin     TEXT NOT NULL,
    pattern    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    UNIQUE (org_id, origin)
);

CREATE TABLE org_settings (
    org_id                       TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    message_retention_days       INTEGER NOT NULL CHECK (message_retention_days >= 1),
    audit_payload_retention_days INTEGER NOT NULL CHECK (audit_payload_retention_days >= 1),
    channel_retention            TEXT NOT NULL DEFAULT '{}',
    updated_at                   BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    secret_hash  BYTEA NOT NULL UNIQUE,
    scopes       TEXT NOT NULL DEFAULT '[]',
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_org ON api_keys(org_id);

CREATE TABLE tenant_keys (
    org_id        TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    master_key_id TEXT NOT NULL,
    wrapped       BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE security_events (
    id         TEXT PRIMARY KEY,
    org_id     TEXT REFERENCES organizations(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL DEFAULT '',
    ip         TEXT NOT NULL DEFAULT '',
    request_id TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    data       TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);
CREATE INDEX security_events_org ON security_events(org_id, created_at);

-- Row-level security: a transaction sees the rows of the organization named by
-- its porthole.org_id setting and nothing else. A transaction that set
-- nothing sees nothing. porthole.scope = 'system' is set only by the few
-- store methods that must work across tenants (listing data keys for master
-- key rotation, say); see store/tenant.go.
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON organizations
    USING (id = current_setting('porthole.org_id', true))
    WITH CHECK (id = current_setting('porthole.org_id', true));
CREATE POLICY system_scope ON organizations FOR SELECT
    USING (current_setting('porthole.scope', true) = 'system');

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memberships
    USING (org_id = current_setting('porthole.org_id', true))
    WITH CHECK (org_id = current_setting('porthole.org_id', true));
-- A user may read their own memberships, to choose an organization.
CREATE POLICY own_memberships ON memberships FOR SELECT
    USING (user_id = current_setting('porthole.user_id', true));

ALTER TABLE chatbots ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON chatbots
    USING (org_id = current_setting('porthole.org_id', true))
    WITH CHECK (org_id = current_setting('porthole.org_id', true));

ALTER TABLE allowed_origins ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON allowed_origins
    USING (org_id = current_setting('porthole.org_id', true))
    WITH CHECK (org_id = current_setting('porthole.org_id', true));

ALTER TABLE org_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON org_settings
    USING (org_id = current_setting('porthole.org_id', true))
    WITH CHECK (org_id = current_setting('porthole.org_id', true));

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING (org_id = current_setting('porthole.org_id', true))
    WITH CHECK (org_id = current_setting('porthole.org_id', true));

ALTER TABLE tenant_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_keys
    USING (org_id = current_setting('porthole.org_id', true))
    WITH CHECK (org_id = current_setting('porthole.org_id', true));
CREATE POLICY system_scope ON tenant_keys
    USING (current_setting('porthole.scope', true) = 'system')
    WITH CHECK (current_setting('porthole.scope', true) = 'system');

ALTER TABLE security_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON security_events
    USING (org_id = current_setting('porthole.org_id', true))
    WITH CHECK (org_id = current_setting('porthole.org_id', true));
-- Events with no tenant yet are written (never read) outside a tenant.
CREATE POLICY system_scope ON security_events
    USING (current_setting('porthole.scope', true) = 'system')
    WITH CHECK (current_setting('porthole.scope', true) = 'system');

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
