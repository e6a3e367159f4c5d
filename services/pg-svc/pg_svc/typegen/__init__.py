"""postgres-meta's type generators (``generators/typescript``, ``go``, ``swift``, ``python``): the
same text for the same database, from our own introspection (:mod:`.metadata`) and templates."""
