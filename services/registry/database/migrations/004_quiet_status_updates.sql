-- A connection test records its outcome in database_connections.status. That is no change of
-- the record as the engine services use it: announcing it would make every process drop the
-- record and close the pooled clients the test has just opened. Updates that change nothing
-- but the status are therefore not announced; every other change still is.

DROP TRIGGER database_connections_notify_invalidation ON platform.database_connections;

CREATE TRIGGER database_connections_notify_invalidation
  AFTER INSERT OR DELETE ON platform.database_connections
  FOR EACH ROW EXECUTE FUNCTION platform.notify_invalidation();

CREATE TRIGGER database_connections_notify_invalidation_on_update
  AFTER UPDATE ON platform.database_connections
  FOR EACH ROW
  WHEN ((to_jsonb(OLD) - 'status') IS DISTINCT FROM (to_jsonb(NEW) - 'status'))
  EXECUTE FUNCTION platform.notify_invalidation();
