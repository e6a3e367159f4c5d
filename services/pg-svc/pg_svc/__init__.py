"""pg-svc: operations on a project's PostgreSQL databases over gRPC."""
