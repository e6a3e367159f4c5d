-- Every change to a membership, a connection record or a project is announced on the
-- 'udb_invalidation' channel, so that each process caching them drops its copy at once.
-- Triggers (rather than the registry's code) also catch changes made by hand.

CREATE FUNCTION platform.notify_invalidation() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  row_data   record;
  kind       text;
  project    uuid;
  project_rf text;
  payload    jsonb;
BEGIN
  IF TG_OP = 'DELETE' THEN row_data := OLD; ELSE row_data := NEW; END IF;
  IF TG_TABLE_NAME = 'projects' THEN
    kind := 'project';
    project := row_data.id;
    project_rf := row_data.ref;
    payload := jsonb_build_object('kind', kind, 'project_id', project, 'project_ref', project_rf);
  ELSE
    project := row_data.project_id;
    SELECT p.ref INTO project_rf FROM platform.projects p WHERE p.id = project;
    IF TG_TABLE_NAME = 'members' THEN
      payload := jsonb_build_object('kind', 'membership', 'project_id', project,
                                    'project_ref', project_rf, 'user_id', row_data.user_id);
    ELSE
      payload := jsonb_build_object('kind', 'connection', 'project_id', project,
                                    'project_ref', project_rf, 'connection_id', row_data.id);
    END IF;
  END IF;
  PERFORM pg_notify('udb_invalidation', payload::text);
  RETURN NULL;
END;
$$;

CREATE TRIGGER members_notify_invalidation
  AFTER INSERT OR UPDATE OR DELETE ON platform.members
  FOR EACH ROW EXECUTE FUNCTION platform.notify_invalidation();

CREATE TRIGGER database_connections_notify_invalidation
  AFTER INSERT OR UPDATE OR DELETE ON platform.database_connections
  FOR EACH ROW EXECUTE FUNCTION platform.notify_invalidation();

CREATE TRIGGER projects_notify_invalidation
  AFTER UPDATE OR DELETE ON platform.projects
  FOR EACH ROW EXECUTE FUNCTION platform.notify_invalidation();
