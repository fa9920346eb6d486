"""Redis for every store: the client built from settings, a fail-fast check naming the
setting, the one error wrapper, and Lua scripts loaded from ``.lua`` files.

``SWITCHBOARD_REDIS_URL`` names one server (``redis://``, ``rediss://``) or a Redis
Cluster (``redis+cluster://host:port``, ``rediss+cluster://``: any node; the client
finds the others). Every store takes either client (``RedisClient``) and keeps to what
works on both: a script or multi-key command touches keys of one hash tag; reads and
deletes across hash tags go through ``get_many`` / ``delete_many``, split per slot.

A cluster client gives up within ``CLUSTER_DEADLINE`` socket timeouts (``BoundedCluster``),
as one server gives up within one: redis-py's own retries and topology refreshes would
each wait a full socket timeout per node, so an unreachable cluster took many times it.
"""

from __future__ import annotations

import asyncio
import math
import re
import ssl
import weakref
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias, cast
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import hiredis
import structlog
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.cluster import PRIMARY
from redis.commands.core import AsyncScript
from redis.exceptions import (
    AuthenticationError,
    ClusterDownError,
    ConnectionError,
    NoScriptError,
    RedisClusterException,
    RedisClusterUnreachableError,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
)
from redis.typing import EncodableT, KeyT

from router.errors import BackendUnavailable, ConfigError, ScriptsReloaded, cause_of
from router.keys import Keys
from router.settings import RedisSettings, Settings, cluster_seeds
from router.tls import ClientCertificate, load_client_certificate, unusable

log = structlog.get_logger("switchboard.redis")

REDIS_SETTING = "SWITCHBOARD_REDIS_URL"
TLS_SETTING = "SWITCHBOARD_REDIS_SSL_"
KEY_PASSWORD_OPTION = "ssl_password"  # noqa: S105 - the option's name
"""The URL option redis-py opens an encrypted client key with."""
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
"""The URL schemes that select the cluster client, and the scheme each stands for."""

RedisClient: TypeAlias = Redis | RedisCluster
"""What every store takes: one server or a cluster (``make_redis`` picks by the URL)."""
RedisPipeline: TypeAlias = Pipeline | ClusterPipeline

CLUSTER_DEADLINE = 2
"""How many socket timeouts one cluster command or pipeline may take in all: a connect and
a read, as on one server."""

UNAVAILABLE = (RedisError, OSError, RedisClusterUnreachableError, SlotNotCoveredError)
"""What a Redis that does not answer raises: the cluster client's two are no RedisError."""


def is_cluster_url(url: str) -> bool:
    return url.partition("://")[0] in CLUSTER_SCHEMES


def make_redis(settings: Settings) -> RedisClient:
    """The client ``SWITCHBOARD_REDIS_URL`` names (see ``make_client``)."""
    return make_client(settings)


def make_client(settings: Settings) -> RedisClient:
    """One server, or a cluster for ``redis+cluster://`` / ``rediss+cluster://``."""
    cfg = settings.redis
    if not cfg.url:
        raise ConfigError(
            REDIS_SETTING,
            "not set: set it to your deployment's, or to the Redis URL a running "
            "`switchboard dev` printed (or use `switchboard dev` for an embedded one)",
        )
    opts: dict[str, Any] = {
        "socket_timeout": cfg.socket_timeout_s,
        "socket_connect_timeout": cfg.socket_timeout_s,
        "decode_responses": False,
    }
    scheme = cfg.url.partition("://")[0]
    if scheme in ("rediss", "rediss+cluster"):
        check_tls_files(cfg)
        opts.update(
            ssl_ca_certs=str(cfg.ssl_ca_certs) if cfg.ssl_ca_certs else None,
            ssl_certfile=str(cfg.ssl_certfile) if cfg.ssl_certfile else None,
            ssl_keyfile=str(cfg.ssl_keyfile) if cfg.ssl_keyfile else None,
        )
    if scheme in CLUSTER_SCHEMES:
        # one immediate retry: a connection to a node that restarted fails at once
        opts.update(retry=Retry(NoBackoff(), 1))
        first, more = cluster_seeds(cfg.url)
        url = f"{CLUSTER_SCHEMES[scheme]}://{first.partition('://')[2]}"
        if more:  # the first node that answers tells the client the others
            opts["startup_nodes"] = [ClusterNode(host, port) for host, port in more]
        cluster = cast(BoundedCluster, BoundedCluster.from_url(url, **opts))
        cluster.deadline_s = CLUSTER_DEADLINE * cfg.socket_timeout_s
        return cluster
    return Redis.from_url(cfg.url, **opts)


async def serves_every_key(client: RedisClient) -> None:
    """Redis is ready when it can answer for any key: one server answers PING; on a
    cluster, every primary must answer and say the cluster is whole. A node of a cluster
    in ``cluster_state:fail`` still answers PING, and PING reaches one node only, so that
    alone said "ready" while every request failed, or "not ready" while they succeeded."""
    if not isinstance(client, RedisCluster):
        await client.ping()
        return
    answer = await client.cluster_info(target_nodes=RedisCluster.PRIMARIES)
    infos = cast(dict[str, dict[str, str]], answer)  # one INFO per node asked
    broken = sorted(
        f"{node} says cluster_state:{info.get('cluster_state', '?')}"
        for node, info in infos.items()
        if info.get("cluster_state") != "ok"
    )
    if broken:
        raise ClusterDownError(", ".join(broken))


def check_tls_files(cfg: RedisSettings) -> None:
    """The TLS files of a ``rediss://`` URL, read now: one that cannot be read or used is
    a ConfigError naming its setting, as on the Kafka side, rather than a connection
    error blamed on ``SWITCHBOARD_REDIS_URL`` at the first command. An encrypted client
    key is opened with the URL's ``?ssl_password=``, which redis-py reads from there too,
    and never by a prompt on the terminal (``router.tls``); redis-py's cluster client
    takes no pass phrase, so a cluster needs a key without one."""
    try:
        ctx = ssl.create_default_context(cafile=str(cfg.ssl_ca_certs) if cfg.ssl_ca_certs else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{TLS_SETTING}CA_CERTS", unusable(cfg.ssl_ca_certs, exc)) from None
    if cfg.ssl_keyfile and not cfg.ssl_keyfile.is_file():
        raise ConfigError(f"{TLS_SETTING}KEYFILE", f"cannot use {cfg.ssl_keyfile}: no such file")
    if cfg.ssl_certfile:
        load_client_certificate(ctx, _client_certificate(cfg, cfg.ssl_certfile))


def _client_certificate(cfg: RedisSettings, certfile: Path) -> ClientCertificate:
    """The client certificate, with the pass phrase redis-py would open its key with."""
    keyfile = cfg.ssl_keyfile
    if is_cluster_url(cfg.url or ""):
        key = cfg.ssl_keyfile or certfile
        return ClientCertificate(
            certfile=certfile,
            keyfile=keyfile,
            password=None,
            certfile_setting=f"{TLS_SETTING}CERTFILE",
            password_setting=f"{TLS_SETTING}KEYFILE" if keyfile else f"{TLS_SETTING}CERTFILE",
            without_password="the cluster client takes none, so give it the key without "
            f"one (openssl pkey -in {key} -out <new file>)",
        )
    given = parse_qs(urlsplit(cfg.url or "").query).get(KEY_PASSWORD_OPTION)
    return ClientCertificate(
        certfile=certfile,
        keyfile=keyfile,
        password=given[0] if given else None,  # the first, as redis-py takes it
        certfile_setting=f"{TLS_SETTING}CERTFILE",
        password_setting=REDIS_SETTING,
        without_password=f"add it to the URL as ?{KEY_PASSWORD_OPTION}= (percent-encoded)",
    )


class BoundedCluster(RedisCluster):
    """A cluster client whose every command and pipeline ends within ``deadline_s``.

    redis-py's cluster client retries a command that timed out and, before the next
    attempt, refreshes the topology by asking each node in turn for CLUSTER SLOTS, every
    step waiting up to a socket timeout: with its nodes paused a request took 20-60 s
    where one server takes 5, and a webhook caller gave up before the 503. Retries are
    cut to one immediate retry (``make_client``) and the whole call to a deadline; a
    refresh cut short is not counted as failed by redis-py and runs again later.
    """

    deadline_s: float | None = None
    ERRORS_ALLOW_RETRY = (ConnectionError, ClusterDownError, SlotNotCoveredError)  # type: ignore[assignment]
    """Not a timeout: a node that let one socket timeout pass is not asked again within
    the same call (a paused node cost two timeouts per request, one for the retry)."""

    async def execute_command(self, *args: EncodableT, **kwargs: Any) -> Any:
        async with asyncio.timeout(self.deadline_s):
            return await super().execute_command(*args, **kwargs)

    def get_node(
        self, host: str | None = None, port: int | None = None, node_name: str | None = None
    ) -> ClusterNode | None:
        """The node at ``host:port``, known from then on if it was not. An ASK redirect may
        name a node that serves no slot yet (a primary just added, the first slots moving
        to it): redis-py looked it up among the nodes it knew, found none, and failed
        with an AttributeError, which stopped every role and answered 500 until the move
        was over (redis-py #4015). As a MOVED does, the redirect makes it known."""
        node = super().get_node(host, port, node_name)
        if node is None and host and port:
            manager = self.nodes_manager
            node = ClusterNode(host, port, PRIMARY, **manager.connection_kwargs)
            manager.set_nodes(manager.nodes_cache, {node.name: node})
        return node

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # refuses it
        return BoundedPipeline(self, transaction)  # type: ignore[abstract]  # as redis-py builds it


class BoundedPipeline(ClusterPipeline):
    """A pipeline of a ``BoundedCluster``, under its client's deadline."""

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        deadline = cast(BoundedCluster, self.cluster_client).deadline_s
        async with asyncio.timeout(deadline):
            return await super().execute(raise_on_error, allow_redirections)


async def check_redis(settings: Settings) -> None:
    """Fail fast with one line naming the setting (its password never shown), with the
    cause when it is more than a refused connection (a TLS handshake, a protocol)."""
    url = shown_url(settings.redis.url)
    try:
        client = make_client(settings)
    except (*UNAVAILABLE, RedisClusterException, ValueError) as exc:
        raise ConfigError(REDIS_SETTING, f"cannot use {url} ({type(exc).__name__})") from None
    try:
        await client.ping()
        if not isinstance(client, RedisCluster) and await _cluster_enabled(client):
            message = f"the server at {url} runs in cluster mode: use {_as_cluster_url(url)}"
            raise ConfigError(REDIS_SETTING, message)
    except AuthenticationError as exc:  # it answers, and refuses who we say we are
        raise ConfigError(REDIS_SETTING, _refused(settings.redis.url or "", exc)) from None
    except (*UNAVAILABLE, RedisClusterException) as exc:
        detail = _cause(exc, settings.redis.url)
        raise ConfigError(REDIS_SETTING, f"no Redis answers at {url} ({detail})") from None
    except (TypeError, ValueError) as exc:  # an option of the URL's query the client lacks
        problem = f"cannot use {url} ({type(exc).__name__}: check the options after '?')"
        raise ConfigError(REDIS_SETTING, problem) from None
    finally:
        await client.aclose()


def _refused(url: str, exc: AuthenticationError) -> str:
    """What to fix: a password the URL lacks, the user or password it has, or a password
    written without its colon, which redis-py reads as a user name."""
    shown, parts = shown_url(url), urlsplit(url)
    if parts.password is None and parts.username:  # ``NAME@``
        return (
            f"Redis at {shown} refused the URL's user, given with no password: NAME@ is "
            "read as a user name; write a password as :PASSWORD@ (or USER:PASSWORD@)"
        )
    if parts.password is None:  # the server answered NOAUTH
        return (
            f"Redis at {shown} requires a password: put it in {REDIS_SETTING} "
            "(redis://:PASSWORD@host:port)"
        )
    return f"Redis at {shown} refused the user or password in the URL ({type(exc).__name__})"


def _cause(exc: BaseException, url: str | None) -> str:
    """The error's type, and its text unless it only says the connection was refused or
    timed out (the line already says nobody answers); a password in it is masked, and
    so is a user given without one (``NAME@``: often a password missing its colon)."""
    detail = type(exc).__name__
    said = " ".join(str(exc).split())
    if not said or _plain_refusal(exc):
        return detail
    parts = urlsplit(url or "")
    secret = parts.password if parts.password is not None else parts.username
    for shown in {secret, unquote(secret)} if secret else ():
        said = said.replace(shown, "***")
    return f"{detail}: {said[:300]}"


def _plain_refusal(exc: BaseException) -> bool:
    if cause_of(exc, (ConnectionRefusedError, TimeoutError)) is not None:
        return True
    text = str(exc).lower()
    return "connection refused" in text or "timeout" in text or "timed out" in text


async def _cluster_enabled(client: Redis) -> bool:
    """Whether the server is a cluster node: it answers PING like any server, and then
    MOVED for every key of a slot another node holds. A server that refuses INFO (some
    hosted ones rename it) is taken at its word."""
    try:
        info = await client.info("cluster")
    except ResponseError:
        return False
    return str(info.get("cluster_enabled", 0)) == "1"


def _as_cluster_url(url: str) -> str:
    """``url`` with the cluster scheme for its own (``redis://`` -> ``redis+cluster://``)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}+cluster://{rest}"


SECRET_QUERY = frozenset({"password", "ssl_password"})
"""Query parameters redis-py reads a password from (``unix:///s.sock?password=``)."""


def shown_url(url: str | None) -> str:
    """``url`` with its password replaced by ``***``, in the user part or the query, for
    messages and logs. A user part without a colon is hidden whole: redis-py reads it as
    a user name, yet it is as often a password written without its colon."""
    if not url:
        return str(url)
    try:
        parts = urlsplit(url)
    except ValueError:  # no URL (refused at load; settings may be built without checks)
        scheme, sep, rest = url.partition("://")
        rest = rest.partition("?")[0] + ("?***" if "?" in rest else "")
        return (
            f"{scheme}{sep}***@{rest.rpartition('@')[2]}" if "@" in rest else f"{scheme}{sep}{rest}"
        )
    _, at, host = parts.netloc.rpartition("@")
    if parts.password is not None:
        user = f"{parts.username}:" if parts.username else ":"
        url = urlunsplit(parts._replace(netloc=f"{user}***@{host}"))
    elif at:  # ``NAME@``: redis-py's user name, often a password written without its colon
        url = urlunsplit(parts._replace(netloc=f"***@{host}"))
    if parts.query:  # by hand: ``unix:///path`` would lose its empty host in urlunsplit
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        hidden = [(k, "***" if k.lower() in SECRET_QUERY else v) for k, v in pairs]
        if hidden != pairs:
            base, _, rest = url.partition("?")
            fragment = rest.partition("#")[2]
            url = f"{base}?{urlencode(hidden, safe='*')}" + (f"#{fragment}" if fragment else "")
    return url


def text(value: bytes | str) -> str:
    """A Redis reply as text, whatever ``decode_responses`` says."""
    return value.decode() if isinstance(value, bytes) else value


@contextmanager
def redis_errors() -> Iterator[None]:
    """Any Redis or socket failure inside becomes ``BackendUnavailable("redis")``: the
    caller's batch is retried (consumers) or answered 503 (ingress), never half-applied."""
    try:
        yield
    except UNAVAILABLE as exc:
        if isinstance(exc, NoScriptError):
            _scripts_lost(exc)
            raise ScriptsReloaded("redis", SCRIPTS_LOST) from exc
        raise BackendUnavailable("redis", type(exc).__name__) from exc


SCRIPTS_LOST = "NOSCRIPT: a node had no scripts; they are loaded again for the retry"
"""Why a batch failed after a node answered NOSCRIPT: nothing is down."""


def _scripts_lost(exc: NoScriptError) -> None:
    """A node answered NOSCRIPT: it restarted, or a replica without the script cache was
    promoted by a failover, which is routine. Every script is marked to be loaded again
    before its next call, and this is said at info as what it is, not a fault."""
    marked = [script for script in list(_scripts) if script.loaded]
    for script in marked:
        script.loaded = False
    log.info(
        "redis_scripts_reloaded",
        node=_node_of(exc),
        scripts=len(marked),
        reason="the node has no script cache (restarted, or a replica promoted)",
    )


def _node_of(exc: BaseException) -> str | None:
    """``host:port`` of the node that answered with ``exc``, when the client said so: the
    cluster client notes its node on the error, ``run_batch`` its connection."""
    where = getattr(exc, "connection", None)
    name = getattr(where, "name", None)  # a ClusterNode
    if isinstance(name, str):
        return name
    host, port = getattr(where, "host", None), getattr(where, "port", None)
    return f"{host}:{port}" if host else None


class Script(AsyncScript):
    """A registered Lua script, callable on a client or queued on its pipeline.
    ``loaded``: known to be on the server (or on every primary), for ``run_batch``."""

    loaded = False

    async def __call__(
        self,
        keys: Sequence[KeyT] | None = None,
        args: Iterable[EncodableT] | None = None,
        client: RedisClient | RedisPipeline | None = None,
    ) -> Any:
        # redis-py handles pipelines of both kinds here, though its hint names clients only
        return await super().__call__(keys, args, cast(Any, client))


class ClusterScript(Script):
    """A script on a cluster. A pipeline on one server checks its scripts itself before
    running; a cluster pipeline only queues ``EVALSHA``. So the script is loaded on every
    primary before its first pipelined call, and again after a node answered NOSCRIPT
    (``redis_errors`` marks it; the failed batch is retried)."""

    async def __call__(
        self,
        keys: Sequence[KeyT] | None = None,
        args: Iterable[EncodableT] | None = None,
        client: RedisClient | RedisPipeline | None = None,
    ) -> Any:
        if isinstance(client, ClusterPipeline) and not self.loaded:
            await self.registered_client.script_load(self.script)  # every primary
            self.loaded = True
        return await super().__call__(keys, args, client)


_scripts: weakref.WeakSet[Script] = weakref.WeakSet()


def load_script(client: RedisClient, path: Path) -> Script:
    """Register the Lua script in ``path`` (read once; EVALSHA with a reload on NOSCRIPT)."""
    kind = ClusterScript if isinstance(client, RedisCluster) else Script
    script = kind(client, path.read_text())
    _scripts.add(script)
    return script


@dataclass(frozen=True, slots=True)
class ScriptCall:
    """One call of a script in a ``run_batch``."""

    script: Script
    keys: Sequence[str]
    args: Sequence[EncodableT]


Command: TypeAlias = ScriptCall | tuple[EncodableT, ...]
"""A script call, or a command as its words (``("SET", key, value, "NX")``)."""


async def run_batch(
    client: RedisClient, commands: Sequence[Command], *, raise_on_error: bool = True
) -> list[Any]:
    """Send ``commands`` in one write and read every reply: one round trip. The first
    error reply is raised once all replies are read (so the connection stays in step);
    with ``raise_on_error=False`` each error is returned in its command's place.

    On one server this goes below redis-py's pipeline, which costs about three times the
    CPU per command of the command itself (argument encoding in Python, a reply parsed
    and post-processed at a time, a ``SCRIPT EXISTS`` before every pipeline holding a
    script) and a routed event takes about fifteen commands. hiredis packs the words,
    replies are read as the server sent them (bytes; no reply callbacks), and scripts run
    by ``EVALSHA``, loaded once. A server that lost its scripts answers NOSCRIPT: they
    are marked to be loaded again and the batch fails as on any Redis fault, for the
    caller to retry (every batch a consumer sends is safe to repeat). On a cluster the
    cluster pipeline sends each command to its slot's node.
    """
    if not commands:
        return []
    if isinstance(client, RedisCluster):
        return await _run_on_cluster(client, commands, raise_on_error)
    for script in {c.script for c in commands if isinstance(c, ScriptCall)}:
        if not script.loaded:
            await client.script_load(script.script)
            script.loaded = True
    words = [
        ("EVALSHA", c.script.sha, len(c.keys), *c.keys, *c.args) if isinstance(c, ScriptCall) else c
        for c in commands
    ]
    pool = client.connection_pool
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        await connection.send_packed_command(b"".join(hiredis.pack_command(w) for w in words))  # type: ignore[arg-type]
        replies: list[Any] = []
        async with asyncio.timeout(connection.socket_timeout):  # one limit for the batch
            for _ in words:
                try:
                    replies.append(await _read(connection))
                except ResponseError as exc:
                    replies.append(exc)
    finally:
        await pool.release(connection)
    for reply in replies:
        if isinstance(reply, NoScriptError):
            reply.connection = connection  # type: ignore[attr-defined]  # for _node_of
    for reply in replies if raise_on_error else ():
        if isinstance(reply, ResponseError):
            raise reply
    return replies


async def _read(connection: Any) -> Any:
    """One reply, under the batch's time limit rather than one of its own."""
    return await connection.read_response(disable_decoding=True, timeout=math.inf)


_AS_SENT: dict[str, dict[str, Any]] = {"SET": {"get": True}}
"""Options under which redis-py's reply callbacks hand a reply over as the server sent
it, as the one-server path does: its SET callback turns every reply but OK into False
(the old value of ``SET ... GET`` too) unless told the command carries GET."""


async def _run_on_cluster(
    client: RedisCluster, commands: Sequence[Command], raise_on_error: bool
) -> list[Any]:
    async with client.pipeline(transaction=False) as pipe:
        for c in commands:
            if isinstance(c, ScriptCall):
                await c.script(keys=c.keys, args=c.args, client=pipe)
            else:
                pipe.execute_command(*c, **_AS_SENT.get(str(c[0]).upper(), {}))
        try:
            replies: list[Any] = await pipe.execute(raise_on_error=raise_on_error)
        except NoScriptError as exc:  # which node, for the log (``_scripts_lost``)
            exc.connection = _node_of_call(client, commands, exc)  # type: ignore[attr-defined]
            raise
        return replies


def _node_of_call(client: RedisCluster, commands: Sequence[Command], exc: Exception) -> Any:
    """The node serving the command an error of a cluster pipeline names ("Command # 3
    (...) of pipeline caused error"): redis-py notes no node on a pipeline's errors."""
    found = re.match(r"Command # (\d+) ", str(exc))
    number = int(found[1]) if found else 0
    command = commands[number - 1] if 0 < number <= len(commands) else None
    if isinstance(command, ScriptCall) and command.keys:
        return client.get_node_from_key(command.keys[0])
    return None


async def get_many(client: RedisClient, keys: Sequence[str]) -> list[Any]:
    """GET of each key, in one round trip per node: MGET on one server; on a cluster one
    MGET per slot (keys of different customers live in different slots)."""
    if not keys:
        return []
    if isinstance(client, RedisCluster):
        return await client.mget_nonatomic(list(keys))
    return await client.mget(list(keys))


def one_key_per_primary(client: RedisCluster, keys: Sequence[str]) -> list[str]:
    """Of ``keys``, the first that each primary holds, by the client's map of the slots: a
    read of these reaches every primary that holds any of them, one key each."""
    chosen: dict[str, str] = {}
    for key in keys:
        node = client.get_node_from_key(key)
        if node is not None:  # None: no node serves that slot, nothing to read there
            chosen.setdefault(node.name, key)
    return list(chosen.values())


def marker_keys(client: RedisClient, prefix: str) -> list[str]:
    """The state marker (``consumers/state/epoch.py``), and on a cluster one copy of it on
    each primary: the fewest keys whose reads reach every node."""
    keys = Keys(prefix)
    if not isinstance(client, RedisCluster):
        return [keys.epoch]
    return [keys.epoch, *one_key_per_primary(client, keys.epoch_copies)]


async def read_marker(client: RedisClient, prefix: str) -> bytes | str | None:
    """The state marker, or None when Redis lost state: the marker is missing, or on a
    cluster its copy on some primary is (a node that restarted empty took its slots'
    keys, and the marker lives on another node). A marker without any copy was written
    by a version before them: it stands. For the readers outside the roles (the
    ingress, ``forget``); the roles check with ``StateEpoch``."""
    keys = marker_keys(client, prefix)
    values = await get_many(client, keys) if len(keys) > 1 else [await client.get(keys[0])]
    marker, copies = values[0], values[1:]
    if None in copies and any(copy is not None for copy in copies):
        return None
    return marker


async def delete_many(client: RedisClient, keys: Sequence[str]) -> None:
    """DEL of the keys; on a cluster one DEL per slot (the cluster client splits it)."""
    if keys:
        await client.delete(*keys)


def glob_escape(value: str) -> str:
    """A key prefix as a literal SCAN pattern (a hash tag's braces are literal anyway)."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in value)


async def scan_slot(client: RedisClient, pattern: str, key: str) -> list[str]:
    """Every key matching ``pattern``, all of them in the slot of ``key`` (one hash tag:
    ``p:{agents}:agent:*``): on a cluster, SCAN on the one primary holding that slot, so
    a node that is down or paused elsewhere does not stop the read, and the other nodes'
    keys (every customer's) are not walked for nothing."""
    if isinstance(client, RedisCluster):
        node = client.get_node_from_key(key)
        found = client.scan_iter(match=pattern, count=500, target_nodes=node)
    else:
        found = client.scan_iter(match=pattern, count=500)
    return [text(key) async for key in found]


def scan_every(client: RedisClient, pattern: str) -> AsyncIterator[Any]:
    """The keys matching ``pattern`` as SCAN finds them: on one server; on a cluster on
    every primary (a key may live on any of them)."""
    if isinstance(client, RedisCluster):
        return client.scan_iter(match=pattern, count=500, target_nodes=RedisCluster.PRIMARIES)
    return client.scan_iter(match=pattern, count=500)


async def scan_all(client: RedisClient, pattern: str) -> list[str]:
    """Every key matching ``pattern`` (``scan_every``)."""
    return [text(key) async for key in scan_every(client, pattern)]
