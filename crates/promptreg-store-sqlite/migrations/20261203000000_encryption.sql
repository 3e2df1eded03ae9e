-- Encryption at rest: a version's content (template or messages, variables schema, model
-- configuration) is sealed by the server with AES-256-GCM under a per-version data key, which
-- is stored wrapped by a key-encryption key (KEK) named by kek_id. A sealed row keeps the
-- JSON text 'null' in content (the column cannot drop its NOT NULL without a table rebuild);
-- a row written before this migration keeps its plaintext content and NULL here, and is read
-- as it is until `promptreg keys rotate-kek` seals it.
ALTER TABLE versions ADD COLUMN sealed_alg TEXT;
ALTER TABLE versions ADD COLUMN kek_id TEXT;
ALTER TABLE versions ADD COLUMN wrapped_key BLOB;
ALTER TABLE versions ADD COLUMN nonce BLOB;
ALTER TABLE versions ADD COLUMN ciphertext BLOB;
