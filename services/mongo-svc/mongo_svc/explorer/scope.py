"""What the explorer's RPCs share: the engine scope they borrow through and name checks."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import pymongo.errors
from pymongo.asynchronous.collection import AsyncCollection

from mongo_svc.clients import MongoClient
from udb.common.v1 import common_pb2
from udb.engine import Borrowed
from udb.errors import InvalidArgument

Document = dict[str, Any]


class Borrow(Protocol):
    """mongo-svc's one engine scope (``MongoService.borrow``): the target's client after the
    role check, inside the operation's time limit, with PyMongo's errors translated."""

    def __call__(
        self, target: common_pb2.ConnectionTarget, role: int
    ) -> AbstractAsyncContextManager[Borrowed[MongoClient]]: ...


def collection_of(client: MongoClient, database: str, collection: str) -> AsyncCollection[Document]:
    """The named collection; InvalidArgument for a missing or malformed name."""
    if not database:
        raise InvalidArgument("database is required", details={"field": "database"})
    if not collection:
        raise InvalidArgument("collection is required", details={"field": "collection"})
    try:
        return client.get_database(database).get_collection(collection)
    except pymongo.errors.InvalidName as exc:
        raise InvalidArgument(f"bad name: {exc}", details={"field": "collection"}) from None
