-- Projects (tenants) and what a token carries besides its role (issue 14).

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    description TEXT,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL
) WITHOUT ROWID;

-- The default project, and any project that already has a log or tokens (a database that
-- predates projects keeps every tenant it holds).
INSERT INTO projects (id, description, created_by, created_at)
SELECT 'default', NULL, 'migration', strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
INSERT OR IGNORE INTO projects (id, description, created_by, created_at)
SELECT DISTINCT project, NULL, 'migration', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
FROM (SELECT project FROM event_log UNION SELECT project FROM tokens);

-- Grant scope as JSON (`{"environments": [...], "prompt_prefixes": [...]}`; NULL: everywhere),
-- expiry, and the last use the replicas flushed.
ALTER TABLE tokens ADD COLUMN scope TEXT;
ALTER TABLE tokens ADD COLUMN expires_at TEXT;
ALTER TABLE tokens ADD COLUMN last_used_at TEXT;
