-- Projects (tenants) and what a token carries besides its role (issue 14).

CREATE TABLE projects (
    id          TEXT COLLATE "C" PRIMARY KEY,
    description TEXT,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

-- The default project, and any project that already has a log or tokens (a database that
-- predates projects keeps every tenant it holds).
INSERT INTO projects (id, description, created_by, created_at)
VALUES ('default', NULL, 'migration', now());
INSERT INTO projects (id, description, created_by, created_at)
SELECT DISTINCT project, NULL, 'migration', now()
FROM (SELECT project FROM event_log UNION SELECT project FROM tokens) AS known
ON CONFLICT (id) DO NOTHING;

-- The reviewer role.
ALTER TABLE tokens DROP CONSTRAINT IF EXISTS tokens_role_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_role_check
    CHECK (role IN ('reader', 'author', 'reviewer', 'deployer', 'admin'));

-- Grant scope (`{"environments": [...], "prompt_prefixes": [...]}`; NULL: everywhere), expiry,
-- and the latest use any replica flushed.
ALTER TABLE tokens ADD COLUMN scope JSONB;
ALTER TABLE tokens ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE tokens ADD COLUMN last_used_at TIMESTAMPTZ;
