"""mongo-svc: operations on a project's MongoDB deployments over gRPC."""
