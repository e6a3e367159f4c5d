"""The HTTP/JSON gateway: serves /api/platform, checks tokens, calls the services over gRPC."""
