"""The command workbench: one command from an allow list, its reply as Redis sent it.

Viewers run read commands, developers writes too. Everything else is refused for every role,
whatever the caller's role: server administration (FLUSHALL, FLUSHDB, CONFIG, DEBUG, SHUTDOWN,
ACL, MODULE, replication, persistence, CLUSTER), scripting (EVAL, SCRIPT, FUNCTION, FCALL), KEYS
(one call walks the whole keyspace), MONITOR and pub/sub subscriptions (they take the connection
over), blocking commands (they hold a pooled connection), transactions (MULTI spans calls),
AUTH, HELLO and SELECT (they change the pooled connection for every later caller), COPY (its DB
option writes into another database) and RESTORE (a serialized payload).
"""

from __future__ import annotations

from typing import Any

import redis.exceptions as rex

from redis_svc.clients import RedisHandle
from redis_svc.explorer.nodes import Nodes
from udb.common.v1 import common_pb2
from udb.errors import InvalidArgument, PermissionDenied
from udb.redis.v1 import explorer_pb2

MAX_ARGS = 10_000
#: A reply deeper than this is cut (RESP nests only as deep as the command's shape).
MAX_DEPTH = 32

#: The workbench's commands by the role they need (a name a line per family).
_BY_ROLE = {
    common_pb2.ROLE_VIEWER: """
        GET MGET STRLEN GETRANGE SUBSTR EXISTS TYPE TTL PTTL EXPIRETIME PEXPIRETIME TOUCH RANDOMKEY DBSIZE
        SCAN LCS BITCOUNT BITPOS GETBIT BITFIELD_RO
        HGET HMGET HGETALL HKEYS HVALS HLEN HEXISTS HSTRLEN HSCAN HRANDFIELD HTTL HPTTL HEXPIRETIME HPEXPIRETIME
        LRANGE LLEN LINDEX LPOS
        SMEMBERS SISMEMBER SMISMEMBER SCARD SSCAN SRANDMEMBER SINTER SINTERCARD SUNION SDIFF
        ZRANGE ZRANGEBYSCORE ZRANGEBYLEX ZREVRANGE ZREVRANGEBYSCORE ZREVRANGEBYLEX ZSCORE ZMSCORE ZCARD ZCOUNT
        ZLEXCOUNT ZRANK ZREVRANK ZSCAN ZRANDMEMBER ZINTER ZINTERCARD ZUNION ZDIFF
        XRANGE XREVRANGE XLEN XPENDING
        GEOPOS GEODIST GEOHASH GEOSEARCH GEORADIUS_RO GEORADIUSBYMEMBER_RO PFCOUNT
        JSON.GET JSON.MGET JSON.TYPE JSON.STRLEN JSON.ARRLEN JSON.OBJKEYS JSON.OBJLEN JSON.RESP
        PING ECHO TIME LASTSAVE INFO ROLE DUMP SORT_RO
    """,
    common_pb2.ROLE_DEVELOPER: """
        SET SETNX SETEX PSETEX MSET MSETNX GETSET GETDEL GETEX APPEND SETRANGE INCR INCRBY INCRBYFLOAT DECR DECRBY
        DEL UNLINK EXPIRE PEXPIRE EXPIREAT PEXPIREAT PERSIST RENAME RENAMENX SETBIT BITFIELD BITOP
        HSET HSETNX HMSET HDEL HINCRBY HINCRBYFLOAT HEXPIRE HPEXPIRE HEXPIREAT HPEXPIREAT HPERSIST HGETDEL HGETEX
        HSETEX
        LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LSET LREM LTRIM LINSERT LMOVE RPOPLPUSH LMPOP
        SADD SREM SPOP SMOVE SINTERSTORE SUNIONSTORE SDIFFSTORE
        ZADD ZREM ZINCRBY ZPOPMIN ZPOPMAX ZMPOP ZREMRANGEBYSCORE ZREMRANGEBYRANK ZREMRANGEBYLEX ZRANGESTORE
        ZINTERSTORE ZUNIONSTORE ZDIFFSTORE
        XADD XDEL XTRIM XACK XCLAIM XAUTOCLAIM XSETID
        GEOADD GEOSEARCHSTORE PFADD PFMERGE
        JSON.SET JSON.DEL JSON.FORGET JSON.MSET JSON.MERGE JSON.NUMINCRBY JSON.STRAPPEND JSON.ARRAPPEND
        JSON.ARRINSERT JSON.ARRPOP JSON.ARRTRIM JSON.TOGGLE JSON.CLEAR
        PUBLISH SPUBLISH
    """,
}
#: Commands with a subcommand: the pairs allowed, and the role each needs.
_SUBCOMMANDS: dict[tuple[str, str], int] = {
    ("OBJECT", "ENCODING"): common_pb2.ROLE_VIEWER,
    ("OBJECT", "IDLETIME"): common_pb2.ROLE_VIEWER,
    ("OBJECT", "FREQ"): common_pb2.ROLE_VIEWER,
    ("OBJECT", "REFCOUNT"): common_pb2.ROLE_VIEWER,
    ("MEMORY", "USAGE"): common_pb2.ROLE_VIEWER,
    ("MEMORY", "STATS"): common_pb2.ROLE_VIEWER,
    ("MEMORY", "DOCTOR"): common_pb2.ROLE_VIEWER,
    ("XINFO", "STREAM"): common_pb2.ROLE_VIEWER,
    ("XINFO", "GROUPS"): common_pb2.ROLE_VIEWER,
    ("XINFO", "CONSUMERS"): common_pb2.ROLE_VIEWER,
    ("PUBSUB", "CHANNELS"): common_pb2.ROLE_VIEWER,
    ("PUBSUB", "NUMSUB"): common_pb2.ROLE_VIEWER,
    ("PUBSUB", "NUMPAT"): common_pb2.ROLE_VIEWER,
    ("PUBSUB", "SHARDCHANNELS"): common_pb2.ROLE_VIEWER,
    ("PUBSUB", "SHARDNUMSUB"): common_pb2.ROLE_VIEWER,
    ("COMMAND", "COUNT"): common_pb2.ROLE_VIEWER,
    ("COMMAND", "INFO"): common_pb2.ROLE_VIEWER,
    ("COMMAND", "DOCS"): common_pb2.ROLE_VIEWER,
    ("COMMAND", "GETKEYS"): common_pb2.ROLE_VIEWER,
    ("CLIENT", "ID"): common_pb2.ROLE_VIEWER,
    ("CLIENT", "GETNAME"): common_pb2.ROLE_VIEWER,
    ("CLIENT", "INFO"): common_pb2.ROLE_VIEWER,
    ("SLOWLOG", "GET"): common_pb2.ROLE_VIEWER,
    ("SLOWLOG", "LEN"): common_pb2.ROLE_VIEWER,
    ("LATENCY", "LATEST"): common_pb2.ROLE_VIEWER,
    ("LATENCY", "HISTORY"): common_pb2.ROLE_VIEWER,
    ("XGROUP", "CREATE"): common_pb2.ROLE_DEVELOPER,
    ("XGROUP", "CREATECONSUMER"): common_pb2.ROLE_DEVELOPER,
    ("XGROUP", "DELCONSUMER"): common_pb2.ROLE_DEVELOPER,
    ("XGROUP", "DESTROY"): common_pb2.ROLE_DEVELOPER,
    ("XGROUP", "SETID"): common_pb2.ROLE_DEVELOPER,
}
#: Refused with a reason of their own (anything else off the lists: "not on the allow list").
_DENIED = {
    "server administration is not run through the workbench": """
        FLUSHALL FLUSHDB CONFIG DEBUG SHUTDOWN ACL MODULE SAVE BGSAVE BGREWRITEAOF REPLICAOF SLAVEOF FAILOVER
        SYNC PSYNC CLUSTER MIGRATE SWAPDB MOVE
    """,
    # COPY ... DB n writes into another database than the record's; RESTORE takes a serialized
    # value that Redis does not fully check unless sanitize-dump-payload is on.
    "it can reach past the connection's database or trust a serialized payload": "COPY RESTORE",
    "scripts are not run through the workbench": "EVAL EVALSHA EVAL_RO EVALSHA_RO SCRIPT FUNCTION FCALL FCALL_RO",
    "KEYS walks the whole keyspace in one call: use the key tree or SCAN": "KEYS",
    "streaming commands have routes of their own (monitor, pub/sub)": """
        MONITOR SUBSCRIBE PSUBSCRIBE SSUBSCRIBE UNSUBSCRIBE PUNSUBSCRIBE SUNSUBSCRIBE
    """,
    "blocking commands are not run through the workbench": """
        BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX BZMPOP XREAD XREADGROUP WAIT WAITAOF
    """,
    "transactions are not run through the workbench": "MULTI EXEC DISCARD WATCH UNWATCH",
    "connection state is not changed through the workbench": "AUTH HELLO SELECT RESET QUIT READONLY READWRITE ASKING",
}
_DENIED_REASONS = {name: reason for reason, names in _DENIED.items() for name in names.split()}
ROLES: dict[str, int] = {name: role for role, names in _BY_ROLE.items() for name in names.split()}


def command_name(args: list[bytes]) -> tuple[str, int]:
    """The canonical name of a command ("GET", "OBJECT ENCODING") and the role it needs;
    PERMISSION_DENIED when the workbench does not run it, for every role."""
    if not args or not args[0]:
        raise InvalidArgument("command is required", details={"field": "command"})
    if len(args) > MAX_ARGS:
        raise InvalidArgument(f"a command takes at most {MAX_ARGS} arguments", details={"field": "command"})
    name = args[0].decode("ascii", errors="replace").upper()
    reason = _DENIED_REASONS.get(name)
    if reason is None and name in ROLES:
        return name, ROLES[name]
    if reason is None and len(args) > 1:
        sub = args[1].decode("ascii", errors="replace").upper()
        role = _SUBCOMMANDS.get((name, sub))
        if role is not None:
            return f"{name} {sub}", role
    shown = name if len(name) <= 40 else name[:40] + "..."
    raise PermissionDenied(
        f"{shown} is not allowed in the workbench: {reason or 'it is not on the allow list'}",
        details={"command": shown},
    )


def is_write(role: int) -> bool:
    return role >= common_pb2.ROLE_DEVELOPER


async def run(handle: RedisHandle, args: list[bytes]) -> tuple[Any, str]:
    """The command's raw reply and the cluster node that answered ("" for a single server)."""
    nodes = await Nodes.of(handle)
    keys: list[bytes] = []
    if handle.cluster:
        try:
            keys = list(await nodes.run(0, b"COMMAND", b"GETKEYS", *args))
        except rex.ResponseError:
            keys = []  # "the command has no key arguments" (or it is malformed: the node says so)
    name, reply = await nodes.run_for_keys(keys, args[0].upper(), *args[1:])
    return reply, name


def reply_proto(value: Any, depth: int = 0) -> explorer_pb2.RedisReply:
    """A raw redis-py reply (RESP2 or RESP3) as a RedisReply tree."""
    reply = explorer_pb2.RedisReply()
    if depth > MAX_DEPTH:
        reply.error = "reply nested too deep"
    elif value is None:
        reply.null = True
    elif isinstance(value, bool):
        reply.integer = int(value)
    elif isinstance(value, int):
        reply.integer = value
    elif isinstance(value, float):
        reply.double = value
    elif isinstance(value, bytes):
        reply.bulk = value
    elif isinstance(value, str):
        reply.bulk = value.encode()
    elif isinstance(value, rex.ResponseError):
        reply.error = str(value)
    elif isinstance(value, dict):
        # A RESP3 map: its keys and values alternate, as RESP2 sends the same reply.
        items = reply.array.items
        for name, item in value.items():
            items.append(reply_proto(name, depth + 1))
            items.append(reply_proto(item, depth + 1))
    elif isinstance(value, list | tuple | set | frozenset):
        reply.array.items.extend(reply_proto(item, depth + 1) for item in value)
    else:
        reply.bulk = str(value).encode()
    if isinstance(value, list | tuple | set | frozenset | dict) and not value:
        reply.array.SetInParent()
    return reply
