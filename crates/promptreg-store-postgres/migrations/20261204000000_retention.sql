-- Retention: a project's lifecycle rules, and versions pruned by them. Pruning drops a
-- version's content (plaintext, or ciphertext, nonce, wrapped data key, KEK id and algorithm)
-- and sets pruned_at; the rest of the row (name, digest, signature, ledger_seq, metadata)
-- stays as a tombstone.
ALTER TABLE versions ADD COLUMN pruned_at TIMESTAMPTZ;

-- Every row is plaintext, sealed whole, or pruned (no content at all).
ALTER TABLE versions DROP CONSTRAINT versions_sealed_whole;
ALTER TABLE versions ADD CONSTRAINT versions_sealed_whole CHECK (
    (pruned_at IS NULL AND content IS NOT NULL AND ciphertext IS NULL AND nonce IS NULL
        AND wrapped_key IS NULL AND kek_id IS NULL AND sealed_alg IS NULL)
    OR (pruned_at IS NULL AND content IS NULL AND ciphertext IS NOT NULL AND nonce IS NOT NULL
        AND wrapped_key IS NOT NULL AND kek_id IS NOT NULL AND sealed_alg IS NOT NULL)
    OR (pruned_at IS NOT NULL AND content IS NULL AND ciphertext IS NULL AND nonce IS NULL
        AND wrapped_key IS NULL AND kek_id IS NULL AND sealed_alg IS NULL)
);

CREATE TABLE lifecycle_rules (
    project                 TEXT COLLATE "C" PRIMARY KEY,
    -- NULL: unset (the newest version of each prompt always stays).
    keep_last               INTEGER CHECK (keep_last >= 1),
    -- NULL: unset.
    prune_unused_after_secs BIGINT CHECK (prune_unused_after_secs >= 1),
    updated_by              TEXT NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL
);
