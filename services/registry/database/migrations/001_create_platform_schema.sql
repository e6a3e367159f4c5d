-- The platform schema: organizations, projects, members, project credentials and the audit log.
-- Applied once by the registry's migration runner, in a transaction, and recorded.

CREATE SCHEMA IF NOT EXISTS platform;

-- 3-64 characters of [a-z0-9-], not starting or ending with a hyphen.
CREATE DOMAIN platform.slug AS text
  CHECK (VALUE ~ '^[a-z0-9]([a-z0-9-]{1,62}[a-z0-9])$');

CREATE TABLE platform.organizations (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  slug        platform.slug NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Who may see an organization and create projects in it. The creator is its owner.
CREATE TYPE platform.organization_role AS ENUM ('member', 'owner');

CREATE TABLE platform.organization_members (
  organization_id uuid NOT NULL REFERENCES platform.organizations (id) ON DELETE CASCADE,
  user_id         text NOT NULL CHECK (length(user_id) BETWEEN 1 AND 256),
  role            platform.organization_role NOT NULL DEFAULT 'member',
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX organization_members_user_id_idx ON platform.organization_members (user_id);

CREATE TABLE platform.projects (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES platform.organizations (id) ON DELETE CASCADE,
  ref             text NOT NULL UNIQUE CHECK (ref ~ '^[a-z0-9-]{3,64}$'),
  name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- The project's own Postgres, for deployments that give each project one (informational).
  db_host         text,
  db_port         integer CHECK (db_port BETWEEN 1 AND 65535),
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_organization_id_idx ON platform.projects (organization_id);

CREATE TYPE platform.member_role AS ENUM ('viewer', 'developer', 'admin', 'owner');

-- Every request's access check reads this table by (user_id, project): the primary key serves it.
CREATE TABLE platform.members (
  project_id  uuid NOT NULL REFERENCES platform.projects (id) ON DELETE CASCADE,
  user_id     text NOT NULL CHECK (length(user_id) BETWEEN 1 AND 256),
  role        platform.member_role NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project_id, user_id)
);
CREATE INDEX members_user_id_idx ON platform.members (user_id);

-- A project's API keys and JWT secret. Secrets are AES-256-GCM ciphertexts (nonce || sealed)
-- with the id of the key that sealed them.
CREATE TABLE platform.credentials (
  project_id                  uuid PRIMARY KEY REFERENCES platform.projects (id) ON DELETE CASCADE,
  anon_key                    text NOT NULL,
  service_role_key_encrypted  bytea NOT NULL,
  jwt_secret_encrypted        bytea NOT NULL,
  key_id                      text NOT NULL,
  created_at                  timestamptz NOT NULL DEFAULT now(),
  updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credentials_key_id_idx ON platform.credentials (key_id);

-- Who did what, where, with what outcome. Never values or secrets. No foreign keys: the log
-- outlives the projects and connections it names.
CREATE TABLE platform.audit_log (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  time           timestamptz NOT NULL DEFAULT now(),
  user_id        text NOT NULL,
  project_ref    text NOT NULL,
  engine         text NOT NULL,
  connection_id  text NOT NULL DEFAULT '',
  operation      text NOT NULL,
  target         text NOT NULL DEFAULT '',
  outcome        text NOT NULL,
  request_id     text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_project_ref_id_idx ON platform.audit_log (project_ref, id DESC);
