-- Connection records: each project may hold several Redis, MongoDB and Postgres connections,
-- at most one primary per engine, their secrets encrypted.

CREATE TYPE platform.database_type AS ENUM ('redis', 'mongodb', 'postgres');

CREATE TABLE platform.database_connections (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  project_id        uuid NOT NULL REFERENCES platform.projects (id) ON DELETE CASCADE,
  database_type     platform.database_type NOT NULL,
  identifier        text NOT NULL CHECK (identifier ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
  host              text NOT NULL CHECK (length(host) BETWEEN 1 AND 255),
  port              integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
  username          text NOT NULL DEFAULT '',
  database          text NOT NULL DEFAULT '',
  tls               boolean NOT NULL DEFAULT false,
  options           jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(options) = 'object'),
  -- AES-256-GCM of the secret document ({"password": ...}), bound to this row's id.
  secret_encrypted  bytea,
  secret_key_id     text,
  is_primary        boolean NOT NULL DEFAULT false,
  status            text NOT NULL DEFAULT 'unknown' CHECK (status IN ('unknown', 'ok', 'error')),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CHECK ((secret_encrypted IS NULL) = (secret_key_id IS NULL)),
  UNIQUE (project_id, database_type, identifier)
);

-- At most one primary per project and engine, enforced by the database; it also serves the
-- hot lookup "the primary connection of this engine".
CREATE UNIQUE INDEX database_connections_one_primary_idx
  ON platform.database_connections (project_id, database_type) WHERE is_primary;
CREATE INDEX database_connections_secret_key_id_idx
  ON platform.database_connections (secret_key_id) WHERE secret_key_id IS NOT NULL;
