"""redis-svc: operations on a project's Redis databases over gRPC."""
