-- +goose Up
-- Accounts: sessions, password resets, invitations, access-token signing
-- keys and revocations, sign-in lockouts, per-chatbot grants and the
-- conversation sharing policy.

-- Sessions belong to a user (global, like users). current_org_id is the
-- organization the session acts in, chosen at sign-in; it is not tenant
-- ownership, hence not named org_id. Only the SHA-256 of the cookie value
-- is stored.
CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    token_hash     BLOB NOT NULL UNIQUE,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    current_org_id TEXT REFERENCES organizations(id) ON DELETE SET NULL,
    user_agent     TEXT NOT NULL DEFAULT '',
    ip             TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER
);
CREATE INDEX sessions_user ON sessions(user_id, created_at);

-- Password reset tokens: only their hash, for single use.
CREATE TABLE password_resets (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX password_resets_user ON password_resets(user_id);

-- Invitations to join an organization with a role: single use, hashed.
CREATE TABLE invitations (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'agent', 'viewer')),
    token_hash  BLOB NOT NULL UNIQUE,
    invited_by  TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    accepted_at INTEGER,
    revoked_at  INTEGER
);
CREATE INDEX invitations_org ON invitations(org_id, created_at);

-- RS256 signing keys of access tokens (server-wide). The private key is
-- sealed with AES-256-GCM under a key derived from the server key file.
CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    public_der     BLOB NOT NULL,
    private_sealed BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    not_before     INTEGER NOT NULL,
    retire_at      INTEGER,
    expires_at     INTEGER
);

-- Revoked access tokens, by session id (kind 'sid') or token id ('jti'),
-- kept until no token they name can still be valid.
CREATE TABLE revoked_tokens (
    kind       TEXT NOT NULL CHECK (kind IN ('sid', 'jti')),
    value      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
);

-- Sign-in lockouts, keyed by the SHA-256 of "email:..." or "ip:...".
CREATE TABLE login_lockouts (
    subject_hash BLOB PRIMARY KEY,
    locked_until INTEGER NOT NULL
);

-- Grants must name a chatbot of the same organization.
CREATE UNIQUE INDEX chatbots_org_id_unique ON chatbots(org_id, id);

-- Per-chatbot grants narrow what agents and viewers see.
CREATE TABLE chatbot_grants (
    org_id     TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    chatbot_id TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    access     TEXT NOT NULL CHECK (access IN ('read', 'write')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, chatbot_id, user_id),
    FOREIGN KEY (org_id, chatbot_id) REFERENCES chatbots(org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES memberships(org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX chatbot_grants_user ON chatbot_grants(org_id, user_id);

-- Who among the team sees a chatbot's conversations: 'team' (everyone with
-- access to the chatbot) or 'assigned_only' (agents and viewers see only
-- conversations assigned to them). No row means 'team'.
CREATE TABLE chatbot_policies (
    org_id               TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    chatbot_id           TEXT NOT NULL,
    conversation_sharing TEXT NOT NULL CHECK (conversation_sharing IN ('team', 'assigned_only')),
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (org_id, chatbot_id),
    FOREIGN KEY (org_id, chatbot_id) REFERENCES chatbots(org_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE chatbot_policies;
DROP TABLE chatbot_grants;
DROP INDEX chatbots_org_id_unique;
DROP TABLE login_lockouts;
DROP TABLE revoked_tokens;
DROP TABLE signing_keys;
DROP TABLE invitations;
DROP TABLE password_resets;
DROP TABLE sessions;
