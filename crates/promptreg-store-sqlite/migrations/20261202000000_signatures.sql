-- Integrity: every version and every pointer move carries the DSSE envelope that signs it
-- (JSON, exactly as signed; NULL for rows written before signing existed), and the server's
-- public signing keys are kept so that what an old key signed still verifies after rotation.
ALTER TABLE versions ADD COLUMN signature TEXT;
ALTER TABLE deployments ADD COLUMN signature TEXT;

-- The seq of the event that recorded the row (its ledger leaf is seq - 1); NULL for rows
-- written before the ledger existed.
ALTER TABLE versions ADD COLUMN ledger_seq INTEGER;
ALTER TABLE deployments ADD COLUMN ledger_seq INTEGER;

CREATE TABLE signing_keys (
    key_id     TEXT PRIMARY KEY,
    algorithm  TEXT NOT NULL,
    public_key TEXT NOT NULL, -- base64 of the raw public key
    created_at TEXT NOT NULL,
    retired_at TEXT
) WITHOUT ROWID;
