"""Writes of schemas, functions, policies, triggers, extensions and publications, as
postgres-meta makes them, in one transaction each."""

from __future__ import annotations

import re
from typing import Any

from pg_svc.ddl import ABSENT, Body, Change, literal_text
from pg_svc.writes.request import Write
from udb.errors import InvalidArgument, NotFound
from udb.pg.v1 import catalog_pb2

SCHEMAS = catalog_pb2.CATALOG_KIND_SCHEMAS
FUNCTIONS = catalog_pb2.CATALOG_KIND_FUNCTIONS
POLICIES = catalog_pb2.CATALOG_KIND_POLICIES
TRIGGERS = catalog_pb2.CATALOG_KIND_TRIGGERS
EXTENSIONS = catalog_pb2.CATALOG_KIND_EXTENSIONS
PUBLICATIONS = catalog_pb2.CATALOG_KIND_PUBLICATIONS

BEHAVIORS = ("IMMUTABLE", "STABLE", "VOLATILE")
POLICY_ACTIONS = ("PERMISSIVE", "RESTRICTIVE")
POLICY_COMMANDS = ("SELECT", "INSERT", "UPDATE", "DELETE", "ALL")
ACTIVATIONS = ("BEFORE", "AFTER", "INSTEAD OF")
ORIENTATIONS = ("ROW", "STATEMENT")
ENABLED_MODES = ("ORIGIN", "DISABLED", "REPLICA", "ALWAYS")

#: A bare SQL name (a language, as postgres-meta writes it unquoted).
_BARE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def _named_on_table(catalog: str, table_column: str, name_column: str) -> str:
    """The query of the oid of an object of ``catalog`` by (schema, table, its name)."""
    return (
        f"SELECT x.oid FROM {catalog} x JOIN pg_class c ON c.oid = x.{table_column}"
        f" JOIN pg_namespace n ON n.oid = c.relnamespace"
        f" WHERE n.nspname = $1 AND c.relname = $2 AND x.{name_column} = $3"
    )


_POLICY_NAMED = _named_on_table("pg_policy", "polrelid", "polname")
_TRIGGER_NAMED = _named_on_table("pg_trigger", "tgrelid", "tgname")

# ---- schemas ----------------------------------------------------------------------------------

_SCHEMA_NAMED = "SELECT oid FROM pg_namespace WHERE nspname = $1"


async def create_schema(change: Change, write: Write) -> str:
    body = Body(write.body)
    name = body.required_text("name")
    change.add("CREATE SCHEMA %I AUTHORIZATION %I", name, body.text("owner", "postgres"))
    return await change.object_named(SCHEMAS, _SCHEMA_NAMED, name, missing=f"Cannot find a schema named {name}")


async def update_schema(change: Change, write: Write) -> str:
    body = Body(write.body)
    _, old = await change.object_fields(SCHEMAS, write.key)
    owner = body.text("owner")
    if owner is not None:
        change.add("ALTER SCHEMA %I OWNER TO %I", old["name"], owner)
    name = body.text("name")
    if name is not None:
        change.add("ALTER SCHEMA %I RENAME TO %I", old["name"], name)
    return await change.object(SCHEMAS, write.key)


# ---- functions --------------------------------------------------------------------------------


def setting_values(value: str) -> list[str]:
    """A setting's value as the list of values to SET (each written as a literal, which Postgres
    quotes again for list settings such as search_path): split at commas outside quotes, a
    double- or single-quoted item taken as what it quotes."""
    items: list[str] = []
    current: list[str] = []
    quote = ""
    for char in value:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
            current.append(char)
        elif char == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    values = []
    for item in (raw.strip() for raw in items):
        if len(item) >= 2 and item[0] == item[-1] and item[0] in "\"'":
            item = item[1:-1].replace(item[0] * 2, item[0])
        values.append(item)
    return values


def _settings(config: dict[str, Any]) -> tuple[str, list[str | None]]:
    """(template, args) of a function's SET clauses: ``{"search_path": "a, b"}``, or a list
    beginning with "FROM CURRENT" for SET ... FROM CURRENT."""
    template: list[str] = []
    args: list[str | None] = []
    for name, value in config.items():
        if isinstance(value, list) and value and value[0] == "FROM CURRENT":
            template.append("SET %I FROM CURRENT")
            args.append(name)
        elif isinstance(value, str):
            values = setting_values(value)
            template.append("SET %I TO " + ", ".join(["%L"] * len(values)))
            args.extend([name, *values])
        else:
            raise InvalidArgument(f"body/config_params/{name} must be string", details={"field": "config_params"})
    return " ".join(template), args


def _function_statement(
    *,
    replace: bool,
    schema: str,
    name: str,
    args: str,
    return_type: str,
    definition: str,
    language: str,
    behavior: str,
    security_definer: bool,
    config: dict[str, Any],
) -> tuple[str, list[str | None]]:
    """postgres-meta's CREATE FUNCTION: CALLED ON NULL INPUT, the given security, behaviour and
    settings (what it does not name, such as STRICT, ROWS or COST, takes Postgres's default)."""
    if not _BARE_NAME.fullmatch(language):
        raise InvalidArgument("body/language must be a language's name", details={"field": "language"})
    settings, setting_args = _settings(config)
    template = (
        f"CREATE {'OR REPLACE ' if replace else ''}FUNCTION %I.%I(%s) RETURNS %s AS %L LANGUAGE {language}"
        f" {behavior} CALLED ON NULL INPUT SECURITY {'DEFINER' if security_definer else 'INVOKER'} {settings}"
    )
    return template, [schema, name, args, return_type, definition, *setting_args]


_FUNCTIONS_NAMED = """SELECT coalesce(array_agg(p.oid), '{}') FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND p.proname = $2"""


async def create_function(change: Change, write: Write) -> str:
    body = Body(write.body)
    name = body.required_text("name")
    schema = body.text("schema", "public") or "public"
    before = set(await change.array(_FUNCTIONS_NAMED, schema, name))
    template, args = _function_statement(
        replace=False,
        schema=schema,
        name=name,
        args=", ".join(body.texts("args") or []),
        return_type=body.text("return_type", "void") or "void",
        definition=body.required_text("definition"),
        language=body.text("language", "sql") or "sql",
        behavior=body.choice("behavior", BEHAVIORS, "VOLATILE") or "VOLATILE",
        security_definer=bool(body.flag("security_definer", False)),
        config=body.mapping("config_params") or {},
    )
    change.add(template, *args)
    after = await change.array(_FUNCTIONS_NAMED, schema, name)
    made = [oid for oid in after if oid not in before]
    if len(made) != 1:
        raise NotFound(f'Cannot find function "{schema}"."{name}"')
    return await change.object(FUNCTIONS, made[0])


def _jsonb_key_order(item: list[str]) -> tuple[int, bytes]:
    """postgres-meta rewrites a function's settings in the order of the keys of its catalogue
    object, a jsonb one: shorter keys first, then by their bytes."""
    key = item[0].encode()
    return len(key), key


async def update_function(change: Change, write: Write) -> str:
    body = Body(write.body)
    _, old = await change.object_fields(FUNCTIONS, write.key)
    identity = old["identity_argument_types"]
    definition = body.text("definition")
    if definition is not None:
        # Settings as Postgres keeps them: the whole value after the first '='.
        stored: list[str] = await change.array("SELECT proconfig FROM pg_proc WHERE oid = $1::oid", int(write.key))
        template, args = _function_statement(
            replace=True,
            schema=old["schema"],
            name=old["name"],
            args=old["argument_types"],
            return_type=old["return_type"],
            definition=definition,
            language=old["language"],
            behavior=old["behavior"],
            security_definer=old["security_definer"],
            config=dict(sorted((setting.split("=", 1) for setting in stored), key=_jsonb_key_order)),
        )
        change.add(template, *args)
        same: int | None = await change.value(
            "SELECT p.oid FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1"
            " AND p.proname = $2 AND pg_get_function_identity_arguments(p.oid) = $3",
            old["schema"],
            old["name"],
            identity,
        )
        if same != int(write.key):
            raise NotFound(f'Cannot find function "{old["schema"]}"."{old["name"]}"({identity})')
    name = body.text("name")
    if name and name != old["name"]:
        change.add("ALTER FUNCTION %I.%I(%s) RENAME TO %I", old["schema"], old["name"], identity, name)
    schema = body.text("schema")
    if schema and schema != old["schema"]:
        change.add("ALTER FUNCTION %I.%I(%s) SET SCHEMA %I", old["schema"], name or old["name"], identity, schema)
    return await change.object(FUNCTIONS, write.key)


# ---- policies ---------------------------------------------------------------------------------


def _expression(body: Body, name: str) -> str | object | None:
    """An SQL expression of the body: a string, ``null`` written as SQL null (as postgres-meta
    writes it), or ABSENT."""
    value = body.nullable_text(name)
    return "null" if value is None else value


async def create_policy(change: Change, write: Write) -> str:
    body = Body(write.body)
    name = body.required_text("name")
    table = body.required_text("table")
    schema = body.text("schema", "public")
    roles = body.texts("roles") or ["public"]
    template = [
        f"CREATE POLICY %I ON %I.%I AS {body.choice('action', POLICY_ACTIONS, 'PERMISSIVE')}"
        f" FOR {body.choice('command', POLICY_COMMANDS, 'ALL')} TO {', '.join(['%I'] * len(roles))}"
    ]
    args: list[str | None] = [name, schema, table, *roles]
    for field, clause in (("definition", "USING (%s)"), ("check", "WITH CHECK (%s)")):
        expression = _expression(body, field)
        if expression is not ABSENT:
            template.append(clause)
            args.append(str(expression))
    change.add(" ".join(template), *args)
    missing = f"Cannot find a policy named {name} for table {schema}.{table}"
    return await change.object_named(POLICIES, _POLICY_NAMED, schema, table, name, missing=missing)


async def update_policy(change: Change, write: Write) -> str:
    body = Body(write.body)
    _, old = await change.object_fields(POLICIES, write.key)
    policy = (old["name"], old["schema"], old["table"])
    alter = "ALTER POLICY %I ON %I.%I"
    for field, clause in (("definition", "USING (%s)"), ("check", "WITH CHECK (%s)")):
        expression = _expression(body, field)
        if expression is not ABSENT:
            change.add(f"{alter} {clause}", *policy, str(expression))
    roles = body.texts("roles")
    if roles is not None:
        change.add(f"{alter} TO {', '.join(['%I'] * len(roles))}", *policy, *roles)
    name = body.text("name")
    if name is not None:
        change.add(f"{alter} RENAME TO %I", *policy, name)
    return await change.object(POLICIES, write.key)


# ---- triggers ---------------------------------------------------------------------------------

_UPDATE_OF = re.compile(r"UPDATE\s+OF\s+(.+)", re.IGNORECASE | re.DOTALL)


def _event(event: str) -> tuple[str, list[str | None]]:
    """(template, args) of a trigger event: INSERT, UPDATE, DELETE, TRUNCATE, or "UPDATE OF a,b"
    whose columns are quoted as identifiers."""
    if event.upper() in ("INSERT", "UPDATE", "DELETE", "TRUNCATE"):
        return event.upper(), []
    match = _UPDATE_OF.fullmatch(event.strip())
    if match is None:
        raise InvalidArgument(f"unknown trigger event: {event}", details={"field": "events"})
    columns = [column.strip() for column in match[1].split(",")]
    columns = [c[1:-1].replace('""', '"') if len(c) >= 2 and c[0] == c[-1] == '"' else c for c in columns]
    return "UPDATE OF " + ", ".join(["%I"] * len(columns)), list(columns)


async def create_trigger(change: Change, write: Write) -> str:
    body = Body(write.body)
    name = body.required_text("name")
    table = body.required_text("table")
    schema = body.text("schema", "public")
    events = body.texts("events")
    if not events:
        raise InvalidArgument("body must have required property 'events'", details={"field": "events"})
    template = [f"CREATE TRIGGER %I {body.choice('activation', ACTIVATIONS) or ''}"]
    args: list[str | None] = [name]
    event_templates = []
    for event in events:
        event_template, event_args = _event(event)
        event_templates.append(event_template)
        args.extend(event_args)
    template.append(" OR ".join(event_templates) + " ON %I.%I")
    args.extend([schema, table])
    orientation = body.choice("orientation", ORIENTATIONS)
    if orientation:
        template.append(f"FOR EACH {orientation}")
    condition = body.text("condition")
    if condition:
        template.append("WHEN (%s)")
        args.append(condition)
    function_args = body.texts("function_args") or []
    template.append(f"EXECUTE FUNCTION %I.%I({', '.join(['%L'] * len(function_args))})")
    args.extend([body.text("function_schema", "public"), body.required_text("function_name"), *function_args])
    change.add(" ".join(template), *args)
    missing = f'Cannot find a trigger with name {name} on table "{schema}"."{table}"'
    return await change.object_named(TRIGGERS, _TRIGGER_NAMED, schema, table, name, missing=missing)


async def update_trigger(change: Change, write: Write) -> str:
    body = Body(write.body)
    _, old = await change.object_fields(TRIGGERS, write.key)
    trigger = (old["schema"], old["table"], old["name"])
    mode = body.choice("enabled_mode", ENABLED_MODES)
    if mode == "ORIGIN":
        change.add("ALTER TABLE %I.%I ENABLE TRIGGER %I", *trigger)
    elif mode == "DISABLED":
        change.add("ALTER TABLE %I.%I DISABLE TRIGGER %I", *trigger)
    elif mode is not None:
        change.add(f"ALTER TABLE %I.%I ENABLE {mode} TRIGGER %I", *trigger)
    name = body.text("name")
    if name and name != old["name"]:
        change.add("ALTER TRIGGER %I ON %I.%I RENAME TO %I", old["name"], old["schema"], old["table"], name)
    return await change.object(TRIGGERS, write.key)


# ---- extensions -------------------------------------------------------------------------------


def _version(body: Body) -> str | None:
    value = body.raw("version")
    if value is ABSENT or value is None:
        return None
    if isinstance(value, list | dict):
        raise InvalidArgument("body/version must be string", details={"field": "version"})
    return literal_text(value)


async def create_extension(change: Change, write: Write) -> str:
    body = Body(write.body)
    name = body.required_text("name")
    template, args = ["CREATE EXTENSION %I"], [name]
    schema = body.text("schema")
    if schema is not None:
        template.append("SCHEMA %I")
        args.append(schema)
    version = _version(body)
    if version is not None:
        template.append("VERSION %L")
        args.append(version)
    if body.flag("cascade", False):
        template.append("CASCADE")
    change.add(" ".join(template), *args)
    return await change.object(EXTENSIONS, name)


async def update_extension(change: Change, write: Write) -> str:
    body = Body(write.body)
    if body.flag("update", False):
        version = _version(body)
        if version is None:
            change.add("ALTER EXTENSION %I UPDATE", write.key)
        else:
            change.add("ALTER EXTENSION %I UPDATE TO %L", write.key, version)
    schema = body.text("schema")
    if schema is not None:
        change.add("ALTER EXTENSION %I SET SCHEMA %I", write.key, schema)
    return await change.object(EXTENSIONS, write.key)


# ---- publications -----------------------------------------------------------------------------

_OPERATIONS = ("insert", "update", "delete", "truncate")
_PUBLICATION_NAMED = "SELECT oid FROM pg_publication WHERE pubname = $1"


def _table_list(tables: list[str]) -> tuple[str, list[str | None]]:
    """(template, args) of "schema.table" names (the schema is what precedes the first dot),
    each part quoted as an identifier."""
    templates: list[str] = []
    args: list[str | None] = []
    for table in tables:
        if "." in table:
            schema, name = table.split(".", 1)
            templates.append("%I.%I")
            args.extend([schema, name])
        else:
            templates.append("%I")
            args.append(table)
    return ", ".join(templates), args


async def create_publication(change: Change, write: Write) -> str:
    body = Body(write.body)
    name = body.required_text("name")
    tables = None if body.raw("tables") in (None, ABSENT) else body.texts("tables")
    args: list[str | None] = []
    if tables is None:
        clause = "FOR ALL TABLES"
    elif tables:
        table_template, args = _table_list(tables)
        clause = f"FOR TABLE {table_template}"
    else:
        clause = ""
    publish = ",".join(op for op in _OPERATIONS if body.flag(f"publish_{op}", False))
    change.add(f"CREATE PUBLICATION %I {clause} WITH (publish = %L)", name, *args, publish)
    return await change.object_named(
        PUBLICATIONS, _PUBLICATION_NAMED, name, missing=f"Cannot find a publication named {name}"
    )


async def update_publication(change: Change, write: Write) -> str:
    body = Body(write.body)
    old = await change.row(
        "SELECT p.*, r.rolname AS owner, EXISTS (SELECT FROM pg_publication_rel WHERE prpubid = p.oid) AS has_tables"
        " FROM pg_publication p JOIN pg_roles r ON r.oid = p.pubowner WHERE p.oid = $1::oid",
        int(write.key),
    )
    if old is None:
        raise NotFound(f"Cannot find publication with id {write.key}")
    pubname = old["pubname"]
    raw_tables = body.raw("tables")
    if raw_tables is None:  # every table
        if not old["puballtables"]:
            change.add("DROP PUBLICATION %I", pubname)
            change.add("CREATE PUBLICATION %I FOR ALL TABLES", pubname)
    elif raw_tables is not ABSENT:
        tables = body.texts("tables") or []
        if old["puballtables"]:
            # Going between all tables and a list of them takes a new publication.
            change.add("DROP PUBLICATION %I", pubname)
            change.add("CREATE PUBLICATION %I", pubname)
        elif old["has_tables"]:
            change.add(
                "ALTER PUBLICATION %I DROP TABLE %s",
                pubname,
                await change.value(
                    "SELECT string_agg(prrelid::regclass::text, ', ') FROM pg_publication_rel WHERE prpubid = $1::oid",
                    int(write.key),
                ),
            )
        if tables:
            table_template, args = _table_list(tables)
            change.add(f"ALTER PUBLICATION %I ADD TABLE {table_template}", pubname, *args)
    publish = [op for op in _OPERATIONS if body.flag(f"publish_{op}", old[f"pub{op}"])]
    change.add("ALTER PUBLICATION %I SET (publish = %L)", pubname, ", ".join(publish))
    change.add("ALTER PUBLICATION %I OWNER TO %I", pubname, body.text("owner", old["owner"]))
    name = body.text("name")
    if name is not None and name != pubname:
        change.add("ALTER PUBLICATION %I RENAME TO %I", pubname, name)
    new_name = name or pubname
    return await change.object_named(
        PUBLICATIONS, _PUBLICATION_NAMED, new_name, missing=f"Cannot find a publication named {new_name}"
    )
