-- The reviewer role (approves change requests) sits between author and deployer.
ALTER TABLE tokens DROP CONSTRAINT IF EXISTS tokens_role_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_role_check
    CHECK (role IN ('reader', 'author', 'reviewer', 'deployer', 'admin'));
