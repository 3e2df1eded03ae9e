-- The first schema of the PostgreSQL backend. Append-only: later changes are new files.
--
-- Every table is keyed by project. Names use the "C" collation so that ordering and keyset
-- paging compare bytes, exactly like Rust's `str` ordering (and the SQLite backend).

CREATE TABLE prompts (
    project        TEXT COLLATE "C" NOT NULL,
    name           TEXT COLLATE "C" NOT NULL,
    -- 0 only inside the transaction that creates version 1.
    latest_version BIGINT NOT NULL DEFAULT 0 CHECK (latest_version >= 0),
    created_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project, name)
);

CREATE TABLE versions (
    project        TEXT COLLATE "C" NOT NULL,
    name           TEXT COLLATE "C" NOT NULL,
    version        BIGINT NOT NULL CHECK (version >= 1),
    digest         TEXT NOT NULL,
    prompt_type    TEXT NOT NULL CHECK (prompt_type IN ('text', 'chat')),
    content        JSONB NOT NULL,
    commit_message TEXT,
    metadata       JSONB NOT NULL DEFAULT '{}'::jsonb,
    parent         BIGINT,
    created_by     TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project, name, version),
    FOREIGN KEY (project, name) REFERENCES prompts (project, name),
    FOREIGN KEY (project, name, parent) REFERENCES versions (project, name, version)
);

-- `?tag=` filters: `metadata->'tags' ? $tag`.
CREATE INDEX versions_tags ON versions USING GIN ((metadata -> 'tags'));

CREATE TABLE environments (
    project     TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    protected   BOOLEAN NOT NULL DEFAULT FALSE,
    description TEXT,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project, name)
);

-- Every pointer move, never updated nor deleted.
CREATE TABLE deployments (
    project      TEXT COLLATE "C" NOT NULL,
    env          TEXT COLLATE "C" NOT NULL,
    name         TEXT COLLATE "C" NOT NULL,
    seq          BIGINT NOT NULL CHECK (seq >= 1),
    from_version BIGINT,
    to_version   BIGINT NOT NULL,
    digest       TEXT NOT NULL,
    actor        TEXT NOT NULL,
    reason       TEXT,
    at           TIMESTAMPTZ NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback')),
    PRIMARY KEY (project, env, name, seq),
    FOREIGN KEY (project, env) REFERENCES environments (project, name),
    FOREIGN KEY (project, name, to_version) REFERENCES versions (project, name, version),
    FOREIGN KEY (project, name, from_version) REFERENCES versions (project, name, version)
);

-- What is live: one row per (environment, prompt), pointing at the record that made it live.
CREATE TABLE pointers (
    project    TEXT COLLATE "C" NOT NULL,
    env        TEXT COLLATE "C" NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,
    version    BIGINT NOT NULL,
    seq        BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project, env, name),
    FOREIGN KEY (project, env, name, seq) REFERENCES deployments (project, env, name, seq),
    FOREIGN KEY (project, name, version) REFERENCES versions (project, name, version)
);

-- A prompt's environments, for prompt lists.
CREATE INDEX pointers_by_prompt ON pointers (project, name);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    project     TEXT COLLATE "C" NOT NULL,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('reader', 'author', 'deployer', 'admin')),
    kind        TEXT NOT NULL CHECK (kind IN ('bearer', 'key_pair')),
    public_key  TEXT UNIQUE,
    secret_hash TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);

-- A bearer token is found by the hash of its secret alone, so that hash must be unambiguous;
-- a key pair is found by its public key (unique above) and then checked against its hash.
CREATE UNIQUE INDEX tokens_bearer_secret ON tokens (secret_hash) WHERE kind = 'bearer';
CREATE INDEX tokens_by_project ON tokens (project, created_at);

-- The change log: one row per committed write, in commit order (see `events.rs`).
CREATE TABLE events (
    id      BIGSERIAL PRIMARY KEY,
    project TEXT COLLATE "C" NOT NULL,
    kind    TEXT NOT NULL,
    payload JSONB NOT NULL,
    at      TIMESTAMPTZ NOT NULL
);
