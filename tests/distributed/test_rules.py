"""The rules of the distributed clients that need no server."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from redis import exceptions as redis_errors

from kvdb._cluster import _cluster_error, _retryable, check_key_prefix
from kvdb._translate import translate_error
from kvdb.commands import CommandContext
from kvdb.errors import (
    AuthenticationError,
    CommandError,
    ConfigError,
    ServerConnectionError,
    ServerTimeoutError,
    TopologyError,
)


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param(None, id="none"),
        pytest.param("app:", id="plain"),
        pytest.param("app[1]:", id="brackets"),
    ],
)
def test_prefixes_without_braces_are_taken(prefix: str | None) -> None:
    check_key_prefix(prefix)


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param("{app}:", id="whole-tag"),
        pytest.param("app{", id="opening"),
        pytest.param("app}", id="closing"),
    ],
)
def test_prefixes_with_braces_are_refused(prefix: str) -> None:
    with pytest.raises(ConfigError, match="hash tag in the keys"):
        check_key_prefix(prefix)


REFUSED = [
    pytest.param(redis_errors.ClusterDownError("CLUSTERDOWN"), id="clusterdown"),
    pytest.param(redis_errors.MasterDownError("MASTERDOWN"), id="masterdown"),
    pytest.param(redis_errors.TryAgainError("TRYAGAIN"), id="tryagain"),
    pytest.param(redis_errors.SlotNotCoveredError("slot 7"), id="not-covered"),
]
BROKEN = [
    pytest.param(redis_errors.ConnectionError("reset"), id="connection"),
    pytest.param(redis_errors.TimeoutError("timeout"), id="timeout"),
]


@pytest.mark.parametrize("error", REFUSED)
@pytest.mark.parametrize(
    "command", [("SET", "k", "v"), ("INCR", "k")], ids=["set", "incr"]
)
def test_a_refused_command_is_retried_whatever_it_is(
    error: Exception, command: tuple[str, ...]
) -> None:
    assert _retryable(command)(error)


@pytest.mark.parametrize("error", BROKEN)
@pytest.mark.parametrize(
    ("command", "expected"),
    [(("GET", "k"), True), (("INCR", "k"), False), (("LPUSH", "k", "v"), False)],
    ids=["get", "incr", "lpush"],
)
def test_a_broken_connection_retries_only_idempotent_commands(
    error: Exception, command: tuple[str, ...], expected: bool
) -> None:
    assert expected == _retryable(command)(error)


def test_a_refused_password_is_not_retried() -> None:
    assert not _retryable(("GET", "k"))(redis_errors.AuthenticationError("no"))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(
            redis_errors.RedisClusterException(
                "MGET - all keys must map to the same key slot"
            ),
            CommandError,
            id="cross-slot-client",
        ),
        pytest.param(
            redis_errors.ResponseError("Keys in request don't hash to the same slot"),
            CommandError,
            id="cross-slot-server",
        ),
        pytest.param(
            redis_errors.ClusterDownError("The cluster is down"),
            TopologyError,
            id="clusterdown",
        ),
        pytest.param(
            redis_errors.SlotNotCoveredError("Slot 7 is not covered"),
            TopologyError,
            id="not-covered",
        ),
    ],
)
def test_cluster_errors_become_kvdb_errors(
    error: Exception, expected: type[Exception]
) -> None:
    translated = translate_error(error, "cache", "cluster a:1,b:2")

    assert expected is type(translated)
    assert "session 'cache' (cluster a:1,b:2)" in str(translated)


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        pytest.param(
            redis_errors.ConnectionError("Error 111 connecting to a:1"),
            ServerConnectionError,
            id="refused",
        ),
        pytest.param(
            redis_errors.AuthenticationError("invalid password"),
            AuthenticationError,
            id="password",
        ),
    ],
)
def test_an_unreachable_cluster_is_judged_by_its_cause(
    cause: Exception, expected: type[Exception]
) -> None:
    error = redis_errors.RedisClusterException("Redis Cluster cannot be connected")
    error.__cause__ = cause

    assert expected is type(translate_error(error, "cache", "cluster a:1"))


def test_cross_slot_errors_say_what_to_do() -> None:
    error = redis_errors.RedisClusterException(
        "SINTER - all keys must map to the same key slot"
    )

    assert "hash tag" in str(translate_error(error, "cache", "cluster a:1"))


# As a session on a cluster names its server.
CONTEXT = CommandContext(codec=None, session_name="cache", server="cluster a:1,b:2")


def _from_node(error: Exception) -> Exception:
    """`error` as redis-py's sync client raises it: naming the failed node."""
    error.connection = SimpleNamespace(host="b", port=2)  # type: ignore[attr-defined]
    return error


class TestFailoverHints:
    @pytest.mark.parametrize(
        ("error", "expected"),
        [
            pytest.param(
                _from_node(redis_errors.ConnectionError("Error 111 connecting")),
                ServerConnectionError,
                id="refused",
            ),
            pytest.param(
                _from_node(redis_errors.TimeoutError("Timeout reading")),
                ServerTimeoutError,
                id="timeout",
            ),
        ],
    )
    def test_a_node_of_several_may_be_failing_over(
        self, error: Exception, expected: type[Exception]
    ) -> None:
        translated = _cluster_error(CONTEXT, error, nodes=6)

        assert expected is type(translated)
        message = str(translated)
        assert "session 'cache' (cluster a:1,b:2, node b:2)" in message
        assert "failing over" in message
        assert "retry_attempts and retry_backoff_cap" in message
        assert "is the url right" not in message

    def test_a_timeout_also_names_socket_timeout(self) -> None:
        error = redis_errors.TimeoutError("Timeout reading")

        assert "socket_timeout" in str(_cluster_error(CONTEXT, error, nodes=6))

    def test_without_the_node_the_message_says_a_node(self) -> None:
        error = redis_errors.ConnectionError("Error 111 connecting to b:2")

        message = str(_cluster_error(CONTEXT, error, nodes=6))

        assert "cannot reach a node of the cluster (Error 111" in message

    def test_a_cluster_of_one_node_keeps_the_configuration_hint(self) -> None:
        error = _from_node(redis_errors.ConnectionError("Error 111 connecting"))

        message = str(_cluster_error(CONTEXT, error, nodes=1))

        assert "failing over" not in message
        assert "is the url right" in message

    def test_no_start_up_node_answering_keeps_the_configuration_hint(self) -> None:
        error = redis_errors.RedisClusterException("Redis Cluster cannot be connected")
        error.__cause__ = redis_errors.ConnectionError("Error 111 connecting to a:1")

        translated = _cluster_error(CONTEXT, error, nodes=6)

        assert ServerConnectionError is type(translated)
        assert "is the url right" in str(translated)

    def test_a_refused_password_stays_an_authentication_error(self) -> None:
        error = _from_node(redis_errors.AuthenticationError("invalid password"))

        assert AuthenticationError is type(_cluster_error(CONTEXT, error, nodes=6))
