-- Retention: a project's lifecycle rules, and versions pruned by them. Pruning drops a
-- version's content (the 'null' JSON text stays in content, which is NOT NULL here; the
-- sealing columns become NULL) and sets pruned_at; the rest of the row (name, digest,
-- signature, ledger_seq, metadata) stays as a tombstone.
ALTER TABLE versions ADD COLUMN pruned_at TEXT;

CREATE TABLE lifecycle_rules (
    project                 TEXT    NOT NULL PRIMARY KEY,
    -- NULL: unset (the newest version of each prompt always stays).
    keep_last               INTEGER CHECK (keep_last >= 1),
    -- NULL: unset.
    prune_unused_after_secs INTEGER CHECK (prune_unused_after_secs >= 1),
    updated_by              TEXT    NOT NULL,
    updated_at              TEXT    NOT NULL
) WITHOUT ROWID;
