-- A record's sealed secret document holds its password and the options whose values are secrets
-- (registry.connspec). Whether it holds a password is kept beside it, so that a reply can say so
-- (has_password) without opening the secret.
ALTER TABLE platform.database_connections ADD COLUMN has_password boolean NOT NULL DEFAULT false;
UPDATE platform.database_connections SET has_password = secret_encrypted IS NOT NULL;
