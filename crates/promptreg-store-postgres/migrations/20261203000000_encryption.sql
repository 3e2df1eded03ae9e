-- Encryption at rest: a version's content (template or messages, variables schema, model
-- configuration) is sealed by the server with AES-256-GCM under a per-version data key, which
-- is stored wrapped by a key-encryption key (KEK) named by kek_id. A sealed row has NULL
-- content; a row written before this migration keeps its plaintext content and NULL here, and
-- is read as it is until `promptreg keys rotate-kek` seals it.
ALTER TABLE versions ALTER COLUMN content DROP NOT NULL;
ALTER TABLE versions ADD COLUMN sealed_alg TEXT;
ALTER TABLE versions ADD COLUMN kek_id TEXT;
ALTER TABLE versions ADD COLUMN wrapped_key BYTEA;
ALTER TABLE versions ADD COLUMN nonce BYTEA;
ALTER TABLE versions ADD COLUMN ciphertext BYTEA;
-- Every row is either plaintext or sealed whole.
ALTER TABLE versions ADD CONSTRAINT versions_sealed_whole CHECK (
    (content IS NOT NULL AND ciphertext IS NULL AND nonce IS NULL AND wrapped_key IS NULL
        AND kek_id IS NULL AND sealed_alg IS NULL)
    OR (content IS NULL AND ciphertext IS NOT NULL AND nonce IS NOT NULL
        AND wrapped_key IS NOT NULL AND kek_id IS NOT NULL AND sealed_alg IS NOT NULL)
);
