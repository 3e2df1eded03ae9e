-- Change requests and approvals for protected environments.
-- `approvals_required`: how many approvals a change request into the environment needs.
ALTER TABLE environments ADD COLUMN approvals_required INTEGER NOT NULL DEFAULT 1;
-- Under which authority a move into a protected environment was made:
-- `change_request:<id>`, `break_glass` or `protected_rollback`; NULL otherwise.
ALTER TABLE deployments ADD COLUMN approval TEXT;

-- `status` is the stored status (pending, approved, rejected, applied); a pending or approved
-- request past `expires_at` reads as expired, so expiry needs no writer.
CREATE TABLE change_requests (
    project       TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    env           TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    digest        TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    requested_by  TEXT    NOT NULL,
    author        TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    expires_at    TEXT    NOT NULL,
    applied_at    TEXT,
    applied_by    TEXT,
    rollout       TEXT,
    PRIMARY KEY (project, id)
);
CREATE INDEX change_requests_by_pointer ON change_requests (project, env, name, id);
CREATE INDEX change_requests_by_rollout ON change_requests (project, rollout) WHERE rollout IS NOT NULL;

-- One review per principal per request (the primary key refuses a second).
CREATE TABLE change_reviews (
    project     TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    reviewer_id TEXT NOT NULL,
    reviewer    TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    comment     TEXT,
    at          TEXT NOT NULL,
    PRIMARY KEY (project, request_id, reviewer_id),
    FOREIGN KEY (project, request_id) REFERENCES change_requests (project, id)
);
