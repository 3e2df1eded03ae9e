-- Change requests and approvals for protected environments.
-- `approvals_required`: how many approvals a change request into the environment needs.
ALTER TABLE environments ADD COLUMN approvals_required INTEGER NOT NULL DEFAULT 1;
-- Under which authority a move into a protected environment was made:
-- `change_request:<id>`, `break_glass` or `protected_rollback`; NULL otherwise.
ALTER TABLE deployments ADD COLUMN approval TEXT;

-- `status` is the stored status (pending, approved, rejected, applied); a pending or approved
-- request past `expires_at` reads as expired, so expiry needs no writer.
CREATE TABLE change_requests (
    project       TEXT COLLATE "C" NOT NULL,
    id            TEXT COLLATE "C" NOT NULL,
    env           TEXT COLLATE "C" NOT NULL,
    name          TEXT COLLATE "C" NOT NULL,
    version       BIGINT NOT NULL,
    digest        TEXT NOT NULL,
    reason        TEXT NOT NULL,
    status        TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    author        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    applied_at    TIMESTAMPTZ,
    applied_by    TEXT,
    rollout       TEXT COLLATE "C",
    PRIMARY KEY (project, id)
);
CREATE INDEX change_requests_by_pointer ON change_requests (project, env, name, id);
CREATE INDEX change_requests_by_rollout ON change_requests (project, rollout) WHERE rollout IS NOT NULL;

-- One review per principal per request (the primary key refuses a second).
CREATE TABLE change_reviews (
    project     TEXT COLLATE "C" NOT NULL,
    request_id  TEXT COLLATE "C" NOT NULL,
    reviewer_id TEXT COLLATE "C" NOT NULL,
    reviewer    TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    comment     TEXT,
    at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project, request_id, reviewer_id),
    FOREIGN KEY (project, request_id) REFERENCES change_requests (project, id)
);

-- The reviewer role (approves change requests) joins the roles a token may have.
ALTER TABLE tokens DROP CONSTRAINT IF EXISTS tokens_role_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_role_check
    CHECK (role IN ('reader', 'author', 'reviewer', 'deployer', 'admin'));
