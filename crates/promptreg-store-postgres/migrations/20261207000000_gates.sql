-- Validation results attached to versions (immutable: never updated or deleted), and each
-- environment's promotion path and gates (a JSON spec, replaced as a whole).
CREATE TABLE validations (
    id           BIGSERIAL PRIMARY KEY,
    project      TEXT COLLATE "C" NOT NULL,
    name         TEXT COLLATE "C" NOT NULL,
    version      BIGINT NOT NULL,
    digest       TEXT NOT NULL,
    suite        TEXT COLLATE "C" NOT NULL,
    passed       BOOLEAN NOT NULL,
    metrics      TEXT NOT NULL,
    details      TEXT,
    tool_name    TEXT NOT NULL,
    tool_version TEXT NOT NULL,
    attached_by  TEXT NOT NULL,
    attached_at  TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (project, name, version) REFERENCES versions (project, name, version)
);

-- A version's results, and the newest result per (suite, prompt, version) for the query.
CREATE INDEX validations_by_version ON validations (project, name, version, id);
CREATE INDEX validations_by_suite ON validations (project, suite, name, version, id);

CREATE TABLE environment_gates (
    project    TEXT COLLATE "C" NOT NULL,
    env        TEXT COLLATE "C" NOT NULL,
    spec       TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project, env),
    FOREIGN KEY (project, env) REFERENCES environments (project, name)
);
