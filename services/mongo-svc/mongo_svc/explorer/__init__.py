"""mongo-svc's MongoExplorerService: writes by filter, explain, index usage, schema of a sample,
NDJSON export and import (protos/udb/mongo/v1/explorer.proto)."""
