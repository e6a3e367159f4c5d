"""The shared core of the Unified Database API.

Every service imports it, and it imports no service: generated gRPC stubs (``udb.<pkg>.v1``),
configuration, errors, authentication, the server bootstrap, the pool manager, secret
encryption and the cached registry client.
"""
