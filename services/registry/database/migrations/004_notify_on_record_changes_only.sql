-- A connection test writes only the record's status; that is no change to what engines cache or
-- pool, so it must not invalidate them (it would retire the pooled client after every test).
-- Likewise a member row rewritten with the same role.

DROP TRIGGER database_connections_notify_invalidation ON platform.database_connections;

CREATE TRIGGER database_connections_notify_invalidation
  AFTER INSERT OR DELETE ON platform.database_connections
  FOR EACH ROW EXECUTE FUNCTION platform.notify_invalidation();

CREATE TRIGGER database_connections_notify_invalidation_update
  AFTER UPDATE ON platform.database_connections
  FOR EACH ROW
  WHEN ((to_jsonb(OLD) - 'status') IS DISTINCT FROM (to_jsonb(NEW) - 'status'))
  EXECUTE FUNCTION platform.notify_invalidation();

DROP TRIGGER members_notify_invalidation ON platform.members;

CREATE TRIGGER members_notify_invalidation
  AFTER INSERT OR DELETE ON platform.members
  FOR EACH ROW EXECUTE FUNCTION platform.notify_invalidation();

CREATE TRIGGER members_notify_invalidation_update
  AFTER UPDATE ON platform.members
  FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.user_id IS DISTINCT FROM NEW.user_id)
  EXECUTE FUNCTION platform.notify_invalidation();
