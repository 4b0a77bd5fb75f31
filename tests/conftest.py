"""Fixtures that give the tests real servers, started on first use.

Session-scoped, each started only when a test asks for it and stopped at the
end of the run: `redis_server` (plain), `auth_server` (password and ACL users),
`tls_server` (TLS only), `cluster` (three masters, three replicas) and
`sentinel` (a master, a replica, three sentinels). A test that kills servers
gets a topology of its own from `make_cluster` or `make_sentinel`, and a test
that needs an empty database asks for `redis_url`. `tests/servers.py` starts
and stops the processes.

Tests that use the cluster, sentinel or TLS fixtures are marked `cluster`,
`sentinel` or `tls` here, so `-m 'not cluster'` and the like select them
reliably. A `tls` test is skipped when the binary was built without TLS,
except in CI (`CI` set), where that is an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from kvdb import Client, KVDBClient
from tests.servers import (
    CLUSTER_NODE_TIMEOUT_MS,
    SENTINEL_DOWN_AFTER_MS,
    SENTINEL_FAILOVER_TIMEOUT_MS,
    AuthServer,
    Cluster,
    ClusterFactory,
    RedisBinary,
    SentinelFactory,
    SentinelSetup,
    Server,
    TlsFiles,
    TlsServer,
    find_redis_binary,
    make_tls_files,
    start_auth_server,
    start_cluster,
    start_sentinel,
    start_server,
    start_tls_server,
)

_MARKED_BY_FIXTURE = {
    "cluster": "cluster",
    "make_cluster": "cluster",
    "sentinel": "sentinel",
    "make_sentinel": "sentinel",
    "tls_server": "tls",
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # tryfirst: the markers must be on before `-m` deselects by them.
    for item in items:
        for name in getattr(item, "fixturenames", ()):
            if name in _MARKED_BY_FIXTURE:
                item.add_marker(_MARKED_BY_FIXTURE[name])


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("tls") is not None:
        _require_tls(find_redis_binary())


def _require_tls(binary: RedisBinary) -> None:
    if binary.tls:
        return

    reason = (
        f"{binary.path} (redis {'.'.join(map(str, binary.version))}) was built "
        "without TLS; install Debian's redis-server package to run TLS tests"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the TLS tests, but {reason}")
    pytest.skip(reason)


@pytest.fixture
def client() -> Iterator[Client]:
    """A `kvdb.Client` of the test's own, blind to the machine's KVDB_* variables."""
    client = Client()
    client.configure(environ={})
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _fresh_kvdb_client() -> Iterator[None]:
    """Leave the process-wide `KVDBClient` as new after every test."""
    yield
    KVDBClient.reset()


@pytest.fixture(scope="session")
def redis_binary() -> RedisBinary:
    """The redis-server every fixture runs, with its version and TLS support."""
    return find_redis_binary()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA, a server certificate (127.0.0.1, localhost) and a client one."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def redis_server(
    redis_binary: RedisBinary, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A plain server shared by the whole run: use keys no other test uses."""
    server = start_server(redis_binary, tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: Server) -> str:
    """The URL of an empty database (never db 0) on `redis_server`."""
    return redis_server.fresh_url()


@pytest.fixture(scope="session")
def auth_server(
    redis_binary: RedisBinary, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AuthServer]:
    """A server with a password and two ACL users (see `AuthServer`)."""
    server = start_auth_server(redis_binary, tmp_path_factory.mktemp("auth"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls_server(
    redis_binary: RedisBinary,
    tls_files: TlsFiles,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TlsServer]:
    """A server that speaks only TLS, with certificates made for this run."""
    _require_tls(redis_binary)
    server = start_tls_server(redis_binary, tmp_path_factory.mktemp("tls"), tls_files)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def cluster(
    redis_binary: RedisBinary, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """A cluster shared by the run; tests that kill nodes use `make_cluster`."""
    started = start_cluster(redis_binary, tmp_path_factory.mktemp("cluster"))
    yield started
    started.stop()


@pytest.fixture(scope="session")
def sentinel(
    redis_binary: RedisBinary, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SentinelSetup]:
    """A sentinel setup shared by the run; destructive tests use `make_sentinel`."""
    started = start_sentinel(redis_binary, tmp_path_factory.mktemp("sentinel"))
    yield started
    started.stop()


@pytest.fixture
def make_cluster(
    redis_binary: RedisBinary,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[ClusterFactory]:
    """A starter of clusters that belong to one test and stop after it."""
    started: list[Cluster] = []

    def start(
        *,
        password: str | None = None,
        tls: bool = False,
        node_timeout_ms: int = CLUSTER_NODE_TIMEOUT_MS,
    ) -> Cluster:
        cluster = start_cluster(
            redis_binary,
            tmp_path_factory.mktemp("cluster"),
            password=password,
            tls=_tls_files(request, redis_binary) if tls else None,
            node_timeout_ms=node_timeout_ms,
        )
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()


@pytest.fixture
def make_sentinel(
    redis_binary: RedisBinary,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[SentinelFactory]:
    """A starter of sentinel setups that belong to one test and stop after it."""
    started: list[SentinelSetup] = []

    def start(
        *,
        password: str | None = None,
        sentinel_password: str | None = None,
        tls: bool = False,
        down_after_ms: int = SENTINEL_DOWN_AFTER_MS,
        failover_timeout_ms: int = SENTINEL_FAILOVER_TIMEOUT_MS,
    ) -> SentinelSetup:
        setup = start_sentinel(
            redis_binary,
            tmp_path_factory.mktemp("sentinel"),
            password=password,
            sentinel_password=sentinel_password,
            tls=_tls_files(request, redis_binary) if tls else None,
            down_after_ms=down_after_ms,
            failover_timeout_ms=failover_timeout_ms,
        )
        started.append(setup)
        return setup

    yield start
    for setup in started:
        setup.stop()


def _tls_files(request: pytest.FixtureRequest, binary: RedisBinary) -> TlsFiles:
    # Asked for only when a test wants TLS, so that the others make no CA.
    _require_tls(binary)
    files: TlsFiles = request.getfixturevalue("tls_files")
    return files
