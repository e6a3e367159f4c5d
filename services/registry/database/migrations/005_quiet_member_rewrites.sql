-- A member row rewritten with the same role is no change to anyone's access: do not announce it
-- (it would drop that member's cached access in every process for nothing).

DROP TRIGGER members_notify_invalidation ON platform.members;

CREATE TRIGGER members_notify_invalidation
  AFTER INSERT OR DELETE ON platform.members
  FOR EACH ROW EXECUTE FUNCTION platform.notify_invalidation();

CREATE TRIGGER members_notify_invalidation_on_update
  AFTER UPDATE ON platform.members
  FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.user_id IS DISTINCT FROM NEW.user_id)
  EXECUTE FUNCTION platform.notify_invalidation();
