"""Writes `kvdb/_commands.py`, a session's command methods, from redis-py.

    python -m kvdb._codegen           # rewrite kvdb/_commands.py
    python -m kvdb._codegen --check   # exit 1 if it is stale for this redis-py

Each public command method of `redis.Redis` becomes a method of
`SessionCommands` with the same parameters (names, kinds, defaults), and an
async twin named with an `a` in front, taken from `redis.asyncio.Redis`. The
sync method forwards to `self.client`, the twin to `self.aclient`: the
session's `SessionRedis` and `AsyncSessionRedis` (or, on a cluster,
`SessionRedisCluster` and `AsyncSessionRedisCluster`), whose
`execute_command` applies the codec and the key prefix. A call that redis-py's
cluster clients do not type (a method they lack, or one typed for a single
server only) goes through a cast; on a cluster it fails as redis-py does.

Annotations stay redis-py's where their names can be imported, written the
modern way (`X | None`, `list[...]`); a parameter that carries values is
`Any`, since a session stores any Python value; every method returns `Any`.
Twins of methods that redis-py's asyncio API does not make awaitable
(`pipeline`-like factories, the `*scan_iter` async iterators) are plain
`def`s, so that `async for` and `bitfield(...).execute()` work as in redis-py.

The generated file must pass `ruff format --check`, so this module writes
code in ruff's style: a signature or call that does not fit in 88 columns
has one argument per line and a trailing comma.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import inspect
import sys
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_overloads

import redis
import redis.asyncio
import redis.cluster
import redis.typing
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

__all__ = ["TARGET", "main", "render"]

TARGET = Path(__file__).with_name("_commands.py")
"""The file this generator writes."""

COMMAND = "python -m kvdb._codegen"


# Names the session defines itself: KVDBSession reserves them.
_RESERVED = """
    client aclient name settings codec close aclose clear aclear closed
    pipeline apipeline transaction atransaction pubsub apubsub lock alock
"""

# redis-py methods that are not commands of a session, by reason.
_EXCLUDED = {
    "the plumbing of a redis-py client, or done by the session itself": """
        execute_command parse_response from_url from_pool get_cache
        get_connection_kwargs get_encoder get_retry set_retry
        set_response_callback load_external_module initialize
        keyspace_notifications
    """,
    "module namespaces (JSON, search, ...) whose keys kvdb does not know": """
        bf cf cms ft json tdigest topk ts vset
    """,
    "state of the one pooled connection that a command happens to run on": """
        auth client_getredir client_id client_no_evict client_no_touch
        client_reply client_setinfo client_setname client_tracking
        client_tracking_off client_tracking_on hello quit readonly readwrite
        reset select psync sync unwatch wait waitaof watch himport_discard
        himport_discard_all himport_discard_all_internal himport_discard_internal
        himport_prepare himport_prepare_internal himport_registry himport_set
    """,
    "NotImplementedError in redis-py, or computed locally": """
        command_docs command_info debug_segfault digest_local failover
        latency_doctor latency_graph latency_histogram memory_doctor memory_help
        script_debug
    """,
}
_SKIPPED = frozenset(_RESERVED.split()) | frozenset(
    name for names in _EXCLUDED.values() for name in names.split()
)
_EXCLUDED_PREFIXES = ("sentinel",)  # commands of a sentinel, not of a server

# Async twins that redis-py's asyncio API returns without awaiting.
_NOT_AWAITABLE = frozenset({"bitfield", "monitor", "register_script"})

# Parameters that carry values but that redis-py annotates as `str` or
# `FieldT` (those annotated `EncodableT` are found by their annotation).
_VALUE_PARAMETERS = {
    "delex": ("ifeq", "ifne"),
    "linsert": ("refvalue", "value"),
    "lpos": ("value",),
    "lpush": ("values",),
    "lpushx": ("values",),
    "lrem": ("value",),
    "lset": ("value",),
    "rpush": ("values",),
    "rpushx": ("values",),
    "sadd": ("values",),
    "set": ("ifeq", "ifne"),
    "sismember": ("value",),
    "smove": ("value",),
    "srem": ("values",),
    "zmscore": ("members",),
    "zrem": ("values",),
}
_VALUE_TYPES = frozenset({"EncodableT"})

# Old typing names, written as ruff's pyupgrade rules want them.
_BUILTIN_GENERICS = {"Dict": "dict", "List": "list", "Set": "set", "Tuple": "tuple"}
_BUILTIN_GENERICS |= {"Type": "type", "FrozenSet": "frozenset"}
_ABC_NAMES = frozenset(
    {"Awaitable", "Callable", "Iterable", "Iterator", "Mapping", "Sequence"}
    | {"AsyncIterator", "MutableMapping", "Collection"}
)

_WIDTH = 88
_DOC_WIDTH = _WIDTH - len('        """"""')


@dataclass
class _Imports:
    """What the generated module imports, by module."""

    names: dict[str, set[str]] = field(default_factory=dict)
    plain: set[str] = field(default_factory=set)
    """Modules imported as a whole (`import builtins`)."""

    def add(self, module: str, name: str) -> None:
        self.names.setdefault(module, set()).add(name)

    def block(self) -> str:
        """The import statements, grouped and sorted as ruff's isort does."""
        plain = [f"import {module}" for module in sorted({"abc"} | self.plain)]
        groups: dict[str, list[str]] = {"stdlib": plain, "redis": []}
        groups["kvdb"] = []
        for module in sorted(self.names):
            group = module.split(".")[0] if module.startswith("kvdb") else "stdlib"
            if module.startswith("redis"):
                group = "redis"
            names = sorted(self.names[module], key=_isort_key)
            groups[group] += _from_import(module, names)

        return "\n\n".join("\n".join(lines) for lines in groups.values() if lines)


def _from_import(module: str, names: list[str]) -> list[str]:
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= _WIDTH:
        return [line]
    return [f"from {module} import (", *(f"    {name}," for name in names), ")"]


def _isort_key(name: str) -> tuple[int, str]:
    """Constants, then classes, then the rest, as ruff's isort orders names."""
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[0].isupper() else 2
    return kind, name.lower()


class _UnresolvableError(Exception):
    """An annotation names something the generated module cannot import."""


class _Annotations:
    """Renders redis-py's string annotations as importable, modern ones.

    `shadowed` are builtins that methods of the generated class shadow in its
    namespace (`set`, `type`): annotations spell them `builtins.set`.
    """

    def __init__(self, imports: _Imports, shadowed: frozenset[str]) -> None:
        self._imports = imports
        self._shadowed = shadowed

    def render(self, text: str, namespace: dict[str, Any], value: bool) -> str:
        if value:
            return self.use("typing", "Any")
        try:
            tree = ast.parse(text, mode="eval").body
            return self._node(tree, namespace)
        except (_UnresolvableError, SyntaxError):
            return self.use("typing", "Any")

    def use(self, module: str, name: str) -> str:
        """`name`, imported from `module`; `builtins` names need no import."""
        if module != "builtins":
            self._imports.add(module, name)
            return name
        if name in self._shadowed:
            self._imports.plain.add("builtins")
            return f"builtins.{name}"
        return name

    def _node(self, node: ast.expr, namespace: dict[str, Any]) -> str:
        if isinstance(node, ast.Name):
            # A generic without its arguments: strict mypy wants them.
            name = self._name(node.id, namespace)
            return name + _BARE_GENERIC_ARGUMENTS.get(name.split(".")[-1], "")
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                return _literal(node.value)
            if node.value is None or node.value is Ellipsis:
                return repr(node.value)
            raise _UnresolvableError(node.value)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            left = self._node(node.left, namespace)
            return f"{left} | {self._node(node.right, namespace)}"
        if isinstance(node, ast.List):
            return "[" + ", ".join(self._node(e, namespace) for e in node.elts) + "]"
        if isinstance(node, ast.Subscript):
            return self._subscript(node, namespace)
        raise _UnresolvableError(ast.dump(node))

    def _subscript(self, node: ast.Subscript, namespace: dict[str, Any]) -> str:
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        rendered = [self._node(item, namespace) for item in items]

        head = node.value.id if isinstance(node.value, ast.Name) else ""
        if head == "Optional":
            return f"{rendered[0]} | None"
        if head == "Union":
            return " | ".join(rendered)
        return f"{self._name(head, namespace)}[{', '.join(rendered)}]"

    def _name(self, name: str, namespace: dict[str, Any]) -> str:
        if name in _VALUE_TYPES:
            return self.use("typing", "Any")
        if name in _BUILTIN_GENERICS:
            return self.use("builtins", _BUILTIN_GENERICS[name])
        if name in _ABC_NAMES:
            return self.use("collections.abc", name)

        value = namespace.get(name, getattr(builtins, name, _MISSING))
        if value is _MISSING:
            raise _UnresolvableError(name)
        if getattr(builtins, name, _MISSING) is value:
            return self.use("builtins", name)
        if getattr(typing, name, _MISSING) is value:
            return self.use("typing", name)
        if vars(redis.typing).get(name) is value:
            return self.use("redis.typing", name)

        module = getattr(value, "__module__", "")
        if module.startswith("redis") and vars(sys.modules[module]).get(name) is value:
            return self.use(module, name)
        raise _UnresolvableError(name)


# Arguments that strict mypy wants on generics that redis-py leaves bare.
_BARE_GENERIC_ARGUMENTS = {
    "Callable": "[..., Any]",
    "Iterable": "[Any]",
    "Mapping": "[Any, Any]",
    "Sequence": "[Any]",
    "dict": "[Any, Any]",
    "list": "[Any]",
    "set": "[Any]",
    "tuple": "[Any, ...]",
}

_MISSING = object()


def _literal(value: str | bytes) -> str:
    """A str or bytes literal with double quotes, as ruff format writes it."""
    text = repr(value)
    if '"' in text[1:-1] or "\\" in text:
        return text
    prefix = "b" if isinstance(value, bytes) else ""
    return f'{prefix}"{text[len(prefix) + 1 : -1]}"'


def _default(value: Any, annotations: _Annotations) -> tuple[str, str]:
    """A default value as code, and the lint suppression it needs, if any."""
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value), ""
    if isinstance(value, (str, bytes)):
        return _literal(value), ""
    if value is float or value is int:
        return annotations.use("builtins", value.__name__), ""
    if value == []:
        return "[]", "  # noqa: B006 (redis-py's default, never mutated)"
    raise TypeError(f"cannot render the default {value!r}")


@dataclass
class _Method:
    """One generated method: its signature, and the call it forwards to."""

    name: str
    parameters: list[tuple[str, str]]
    """Each parameter as code, and the lint suppression it needs (or "")."""
    arguments: list[tuple[str, str]]
    doc: str
    kind: str
    """"sync", or how the async twin returns: "await", "iterate", "plain"."""
    call: str
    """What is called: `self.client.get`, or a cast of the client."""
    note: str
    """Why the call casts, or ""."""

    def lines(self) -> Iterator[str]:
        prefix = "async def" if self.kind == "await" else "def"
        returns = "AsyncIterator[Any]" if self.kind == "iterate" else "Any"
        result = "return await " if self.kind == "await" else "return "

        yield from _bracketed(
            f"    {prefix} {self.name}(", self.parameters, f") -> {returns}:"
        )
        yield f'        """{self.doc}"""'
        if self.note:
            yield f"        # {self.note}"
        yield from _bracketed(f"        {result}{self.call}(", self.arguments, ")")


def _bracketed(head: str, items: list[tuple[str, str]], tail: str) -> Iterator[str]:
    """`head` items `tail` on one line, or one item a line, as ruff does."""
    one_line = head + ", ".join(text for text, _ in items) + tail
    if len(one_line) <= _WIDTH and not any(comment for _, comment in items):
        yield one_line
        return

    indent = " " * (len(head) - len(head.lstrip()))
    yield head
    for text, comment in items:
        yield f"{indent}    {text},{comment}"
    yield indent + tail


def _command_names() -> list[str]:
    names = []
    for name in dir(redis.Redis):
        if name.startswith(("_", *_EXCLUDED_PREFIXES)) or name in _SKIPPED:
            continue
        if f"a{name}" in _SKIPPED:
            continue
        if not callable(getattr(redis.Redis, name)):
            continue
        if hasattr(redis.Redis, f"a{name}"):
            raise RuntimeError(f"the async twin of {name} would shadow a{name}")
        names.append(name)

    return names


def _doc(name: str, function: Callable[..., Any]) -> str:
    """The first sentence of redis-py's docstring, if it fits on a line."""
    text = inspect.getdoc(function) or ""
    first = " ".join(text.split("\n\n")[0].split())
    sentence = first.split(". ")[0].rstrip(".").replace("``", "`").replace("\\", "")
    if sentence and len(sentence) + 1 <= _DOC_WIDTH and '"' not in sentence:
        return sentence + "."
    return f"See redis-py's `Redis.{name}`."


def _method(
    name: str,
    function: Callable[..., Any],
    kind: str,
    annotations: _Annotations,
    doc: str,
) -> _Method:
    signature = inspect.signature(function)
    values = set(_VALUE_PARAMETERS.get(name, ()))
    missing = values - set(signature.parameters)
    if missing:
        raise RuntimeError(f"redis-py's {name} has no parameters {sorted(missing)}")

    namespace = vars(sys.modules[function.__module__])
    warned = _warned_parameters(function)
    # Optional arguments go by keyword, unless a *args comes after them.
    starred = any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values())

    parameters: list[tuple[str, str]] = [("self", "")]
    arguments: list[tuple[str, str]] = []
    only_if_passed = []
    for parameter in list(signature.parameters.values())[1:]:
        if parameter.kind is parameter.KEYWORD_ONLY and not any(
            text.startswith("*") for text, _ in parameters
        ):
            parameters.append(("*", ""))
        annotation = annotations.use("typing", "Any")  # where redis-py has none
        if parameter.annotation is not parameter.empty:
            annotation = annotations.render(
                str(parameter.annotation), namespace, parameter.name in values
            )
        parameters.append(_parameter(parameter, annotation, annotations))

        if parameter.name in warned:
            only_if_passed.append(f"{parameter.name}={parameter.name}")
        else:
            arguments.append((_argument(parameter, starred), ""))

    if only_if_passed:
        arguments.append((f"**_passed({', '.join(only_if_passed)})", ""))

    method_name = name if kind == "sync" else f"a{name}"
    call, note = _call(name, function, kind, annotations)
    return _Method(method_name, parameters, arguments, doc, kind, call, note)


_STARS: dict[Any, str] = {
    inspect.Parameter.VAR_POSITIONAL: "*",
    inspect.Parameter.VAR_KEYWORD: "**",
}


def _parameter(
    parameter: inspect.Parameter, annotation: str, annotations: _Annotations
) -> tuple[str, str]:
    """A parameter as code, and the lint suppression its default needs."""
    stars = _STARS.get(parameter.kind, "")
    text = f"{stars}{parameter.name}: {annotation}"
    if parameter.default is parameter.empty:
        return text, ""

    default, comment = _default(parameter.default, annotations)
    return f"{text} = {default}", comment


def _argument(parameter: inspect.Parameter, starred: bool) -> str:
    if parameter.kind is parameter.VAR_POSITIONAL:
        return f"*{parameter.name}"
    if parameter.kind is parameter.VAR_KEYWORD:
        return f"**{parameter.name}"
    if parameter.kind is parameter.KEYWORD_ONLY or (
        parameter.default is not parameter.empty and not starred
    ):
        return f"{parameter.name}={parameter.name}"
    return parameter.name


def _warned_parameters(function: Callable[..., Any]) -> frozenset[str]:
    """Parameters that redis-py warns about whenever they are passed.

    redis-py's `experimental_args` decorator warns when such an argument is
    passed at all, even as its default `None`; the session passes them on
    only when they are not `None`. The names are read from the decorator's
    closure, so that new ones are found when redis-py adds them.
    """
    try:
        check = inspect.getclosurevars(function).nonlocals["_check_experimental_args"]
        names = inspect.getclosurevars(check).nonlocals["args_to_warn"]
    except (KeyError, TypeError):
        return frozenset()

    signature = inspect.signature(function)
    for name in names:
        if signature.parameters[name].default is not None:
            raise RuntimeError(f"{function.__name__}({name}=...) must default to None")
    return frozenset(names)


def _call(
    name: str, function: Callable[..., Any], kind: str, annotations: _Annotations
) -> tuple[str, str]:
    """What a method calls, through a cast where redis-py's types are wrong.

    Returns the callee and the reason for the cast, or "".
    """
    client = "self.client" if kind == "sync" else "self.aclient"
    if not function.__annotations__:
        note = f"redis-py leaves {name} unannotated."
    elif kind == "await" and _typed_as_sync(function):
        note = f"redis-py types {name} as not awaitable on asyncio clients."
    elif not _typed_for_clusters(name, function, kind):
        note = f"redis-py's cluster clients have no {name}, or type it for one server."
    else:
        return f"{client}.{name}", ""

    annotations.use("typing", "cast")
    return f"cast(Any, {client}).{name}", note


def _typed_as_sync(function: Callable[..., Any]) -> bool:
    """Whether the first overload that fits an asyncio client is not async.

    An overload that leaves `self` unannotated fits every client; redis-py
    has some that should say `SyncClientProtocol`.
    """
    for overload in get_overloads(function):
        signature = inspect.signature(overload)
        self_type = str(next(iter(signature.parameters.values())).annotation)
        if "Async" in self_type:
            return False
        if "Sync" not in self_type:
            return "Awaitable" not in str(signature.return_annotation)
    return False


def _typed_for_clusters(name: str, function: Callable[..., Any], kind: str) -> bool:
    """Whether redis-py's cluster client of `kind` has `name`, typed for it.

    A `self` annotated with a protocol fits every client; one that names
    redis-py's single-server classes does not fit a cluster client.
    """
    cluster = redis.cluster.RedisCluster if kind == "sync" else AsyncRedisCluster
    if not hasattr(cluster, name):
        return False

    self_type = next(iter(inspect.signature(function).parameters.values())).annotation
    if self_type is inspect.Parameter.empty or "Protocol" in str(self_type):
        return True
    return "Cluster" in str(self_type)


def _async_kind(name: str) -> str:
    function = getattr(redis.asyncio.Redis, name)
    if inspect.isasyncgenfunction(function):
        return "iterate"
    if name in _NOT_AWAITABLE:
        return "plain"
    return "await"


_HEADER = '''\
# Generated by `{command}` from redis-py {version}.
# Do not edit by hand: change kvdb/_codegen.py and run the command again.
"""Every redis-py command as a session method, with an `a`-prefixed async twin.

`SessionCommands` is the command half of `KVDBSession`: `session.get(key)`
runs `session.client.get(key)` and `await session.aget(key)` runs
`await session.aclient.get(key)`, on clients that apply the session's codec
and key prefix (see `kvdb.commands`). Parameters are redis-py's, except that
those carrying values accept any Python value. Twins of methods that
redis-py's asyncio API does not await (`abitfield`, `amonitor`,
`aregister_script`, the `a*scan_iter` async iterators) are plain methods.
"""

from __future__ import annotations
'''

_PASSED = '''\

def _passed(**arguments: Any) -> dict[str, Any]:
    """The arguments that are not None.

    redis-py warns about some arguments whenever they are passed, even as
    None; the methods below pass those on only when they are given.
    """
    return {name: value for name, value in arguments.items() if value is not None}

'''

_CLASS = '''\

class SessionCommands(abc.ABC):
    """The commands of a session over the clients that run them."""

    @property
    @abc.abstractmethod
    def client(self) -> SessionRedis | SessionRedisCluster:
        """The redis-py client of the sync methods."""

    @property
    @abc.abstractmethod
    def aclient(self) -> AsyncSessionRedis | AsyncSessionRedisCluster:
        """The asyncio client of the async methods."""
'''


def render() -> str:
    """The source of `kvdb/_commands.py` for the installed redis-py."""
    names = _command_names()
    imports = _Imports()
    shadowed = frozenset(dir(builtins)) & {*names, *(f"a{name}" for name in names)}
    annotations = _Annotations(imports, shadowed)
    imports.add("typing", "Any")
    imports.add("kvdb._clients", "AsyncSessionRedis")
    imports.add("kvdb._clients", "SessionRedis")
    imports.add("kvdb._cluster", "AsyncSessionRedisCluster")
    imports.add("kvdb._cluster", "SessionRedisCluster")

    methods: list[_Method] = []
    for name in names:
        sync_function = getattr(redis.Redis, name)
        doc = _doc(name, sync_function)
        methods.append(_method(name, sync_function, "sync", annotations, doc))

        if hasattr(redis.asyncio.Redis, name):
            kind = _async_kind(name)
            async_function = getattr(redis.asyncio.Redis, name)
            methods.append(_method(name, async_function, kind, annotations, doc))
            if kind == "iterate":
                imports.add("collections.abc", "AsyncIterator")

    body = []
    for method in methods:
        body.append("")
        body.extend(method.lines())

    header = _HEADER.format(command=COMMAND, version=redis.__version__)
    helpers = _PASSED if any("**_passed(" in line for line in body) else ""
    return f"{header}\n{imports.block()}\n\n{helpers}{_CLASS}" + "\n".join(body) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Rewrite `kvdb/_commands.py`; with `--check`, only compare."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if kvdb/_commands.py is stale for the installed redis-py",
    )
    options = parser.parse_args(argv)

    source = render()
    current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else None
    if options.check:
        if current != source:
            print(f"{TARGET} is stale for redis-py {redis.__version__}: run {COMMAND}")
            return 1
        return 0

    if current != source:
        TARGET.write_text(source, encoding="utf-8")
        print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
