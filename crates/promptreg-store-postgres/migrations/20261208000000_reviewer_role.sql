-- The `reviewer` role (between author and deployer): the initial schema's CHECK allowed only
-- the four roles there were then, so issuing a reviewer token failed with a 500.
ALTER TABLE tokens DROP CONSTRAINT IF EXISTS tokens_role_check;
ALTER TABLE tokens ADD CONSTRAINT tokens_role_check
    CHECK (role IN ('reader', 'author', 'reviewer', 'deployer', 'admin'));
