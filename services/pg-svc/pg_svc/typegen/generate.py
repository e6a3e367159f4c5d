"""One entry for the four generators: the language and options of a request, the text."""

from __future__ import annotations

from pg_svc.typegen.go import generate_go
from pg_svc.typegen.metadata import QUERY, build
from pg_svc.typegen.python import generate_python
from pg_svc.typegen.swift import ACCESS_LEVELS, generate_swift
from pg_svc.typegen.typescript import generate_typescript
from udb.errors import InvalidArgument
from udb.pg.v1 import pg_pb2

__all__ = ["QUERY", "check", "generate"]


def check(request: pg_pb2.GenerateTypesRequest) -> None:
    """Refuses a request no generator can answer (before the database is asked)."""
    if request.language == pg_pb2.TYPES_LANGUAGE_UNSPECIFIED:
        raise InvalidArgument("language is required", details={"field": "language"})
    if request.swift_access_control and request.swift_access_control not in ACCESS_LEVELS:
        raise InvalidArgument(
            f"access_control must be one of {', '.join(ACCESS_LEVELS)}", details={"field": "access_control"}
        )


def generate(request: pg_pb2.GenerateTypesRequest, document: str) -> str:
    """The source for ``request`` from the metadata ``document`` (pg_svc.typegen.metadata.QUERY's)."""
    meta = build(document)
    if request.language == pg_pb2.TYPES_LANGUAGE_TYPESCRIPT:
        return generate_typescript(
            meta,
            detect_one_to_one=request.detect_one_to_one_relationships,
            postgrest_version=request.postgrest_version,
        )
    if request.language == pg_pb2.TYPES_LANGUAGE_GO:
        return generate_go(meta)
    if request.language == pg_pb2.TYPES_LANGUAGE_SWIFT:
        return generate_swift(meta, access_control=request.swift_access_control or "internal")
    return generate_python(meta)
