-- The registry schema. Every table is keyed by project (tenant).

CREATE TABLE prompts (
    project        TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    latest_version INTEGER NOT NULL,
    created_at     TEXT    NOT NULL,
    PRIMARY KEY (project, name)
) WITHOUT ROWID;

CREATE TABLE versions (
    project        TEXT    NOT NULL,
    name           TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    digest         TEXT    NOT NULL,
    prompt_type    TEXT    NOT NULL,
    content        TEXT    NOT NULL, -- the content object, JSON
    commit_message TEXT,
    metadata       TEXT    NOT NULL, -- JSON
    parent         INTEGER,
    created_by     TEXT    NOT NULL,
    created_at     TEXT    NOT NULL,
    PRIMARY KEY (project, name, version),
    FOREIGN KEY (project, name) REFERENCES prompts (project, name)
);

CREATE TABLE environments (
    project     TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    protected   INTEGER NOT NULL,
    description TEXT,
    created_by  TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (project, name)
) WITHOUT ROWID;

CREATE TABLE pointers (
    project    TEXT    NOT NULL,
    env        TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (project, env, name),
    FOREIGN KEY (project, env) REFERENCES environments (project, name),
    FOREIGN KEY (project, name, version) REFERENCES versions (project, name, version)
) WITHOUT ROWID;

CREATE INDEX pointers_by_prompt ON pointers (project, name);

CREATE TABLE deployments (
    project      TEXT    NOT NULL,
    env          TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    from_version INTEGER,
    to_version   INTEGER NOT NULL,
    digest       TEXT    NOT NULL,
    actor        TEXT    NOT NULL,
    reason       TEXT,
    at           TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('deploy', 'rollback')),
    PRIMARY KEY (project, env, name, seq),
    FOREIGN KEY (project, env) REFERENCES environments (project, name)
) WITHOUT ROWID;

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    project     TEXT NOT NULL,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    public_key  TEXT UNIQUE,
    secret_hash TEXT NOT NULL UNIQUE,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE INDEX tokens_by_project ON tokens (project, created_at);

-- Append-only log of every change, written in the same transaction as the change.
CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    project TEXT NOT NULL,
    kind    TEXT NOT NULL,
    payload TEXT NOT NULL,
    at      TEXT NOT NULL
);
