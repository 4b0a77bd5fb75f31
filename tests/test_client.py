"""KVDBClient: sessions by name, pools by key, lifecycle, threads and fork."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import subprocess
import sys
import textwrap
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from kvdb import Client, KVDBClient, KVDBSession, SessionClosedError, load_settings
from kvdb._types import NOT_GIVEN
from tests.servers import AuthServer, RedisBinary, Server, start_server


def _client_count(url: str, name: str) -> int:
    """How many connections the server sees with client name `name`."""
    with redis.Redis.from_url(url) as admin:
        return sum(1 for c in admin.client_list() if c.get("name") == name)


class TestGetSession:
    def test_same_name_same_session(self, client: Client, redis_server: Server) -> None:
        first = client.get_session("a", url=redis_server.url)

        assert first is client.get_session("a")
        assert first is client.get_session("a", url=redis_server.url)

    def test_new_settings_replace_and_old_keeps_working(
        self, client: Client, redis_server: Server, caplog: pytest.LogCaptureFixture
    ) -> None:
        old = client.get_session("swap", url=redis_server.url)
        old.set("test_client:swap", "raw")

        with caplog.at_level(logging.INFO, logger="kvdb"):
            new = client.get_session("swap", serializer="json")

        assert new is not old
        assert new is client.get_session("swap")
        assert "json" == new.settings.serializer
        assert new.settings.url == old.settings.url
        assert None is old.settings.serializer
        assert b"raw" == old.get("test_client:swap")
        assert "serializer: None -> 'json'" in caplog.text

    def test_none_is_a_value_and_not_given_is_not(
        self, client: Client, redis_server: Server
    ) -> None:
        session = client.get_session(
            "nones", url=redis_server.url, serializer="json", key_prefix="p"
        )

        same = client.get_session("nones", serializer=NOT_GIVEN)
        cleared = client.get_session("nones", key_prefix=None)

        assert session is same
        assert None is cleared.settings.key_prefix
        assert "json" == cleared.settings.serializer

    def test_password_never_in_log(
        self, client: Client, auth_server: AuthServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        secret = auth_server.password
        url = f"redis://:{secret}@{auth_server.host}:{auth_server.port}/0"
        session = client.get_session("secret", url=url)

        with caplog.at_level(logging.DEBUG, logger="kvdb"):
            client.get_session("secret", password=secret + "x")
            session.set("test_client:secret", 1)

        assert secret not in caplog.text
        assert secret not in repr(session)
        assert secret not in repr(client.sessions())
        assert "password (secret)" in caplog.text

    def test_creating_a_session_never_connects(self, client: Client) -> None:
        session = client.get_session("nowhere", url="redis://127.0.0.1:1/0")

        assert isinstance(session, KVDBSession)
        assert 0 == client.pools()[0].sync_connections


class TestPools:
    def test_sessions_that_connect_alike_share_one_pool(
        self, client: Client, redis_server: Server
    ) -> None:
        url = f"{redis_server.url.rsplit('/', 1)[0]}/0?client_name=kvdb-share"
        plain = client.get_session("plain", url=url)
        json_ = client.get_session("json", url=url, serializer="json")
        packed = client.get_session(
            "packed", url=url, serializer="msgpack", compression="zstd"
        )
        prefixed = client.get_session("prefixed", url=url, key_prefix="app")

        for session in (plain, json_, packed, prefixed):
            session.set("test_client:share", 1)

        assert 1 == len({s.pool_key for s in (plain, json_, packed, prefixed)})
        assert 1 == _client_count(redis_server.url, "kvdb-share")
        (info,) = client.pools()
        assert ("json", "packed", "plain", "prefixed") == info.sessions

    def test_different_databases_use_different_pools(
        self, client: Client, redis_server: Server
    ) -> None:
        base = redis_server.url.rsplit("/", 1)[0]
        one = client.get_session("db1", url=f"{base}/1?client_name=kvdb-dbs")
        two = client.get_session("db2", url=f"{base}/2?client_name=kvdb-dbs")

        one.set("test_client:db", "one")
        two.set("test_client:db", "two")

        assert one.pool_key != two.pool_key
        assert 2 == _client_count(redis_server.url, "kvdb-dbs")
        assert b"one" == one.get("test_client:db")

    def test_closing_the_last_session_closes_the_pool(
        self, client: Client, redis_server: Server
    ) -> None:
        url = f"{redis_server.url}?client_name=kvdb-close"
        first = client.get_session("c1", url=url)
        second = client.get_session("c2", url=url, serializer="json")
        first.set("test_client:close", 1)

        first.close()
        assert 1 == _client_count(redis_server.url, "kvdb-close")
        assert 1 == second.get("test_client:close")

        second.close()
        assert 0 == _client_count(redis_server.url, "kvdb-close")
        assert [] == client.pools()

    def test_closed_session_refuses_commands(
        self, client: Client, redis_server: Server
    ) -> None:
        session = client.get_session("closing", url=redis_server.url)
        session.close()

        with pytest.raises(SessionClosedError, match="'closing' is closed"):
            session.get("anything")
        assert session is not client.get_session("closing")

    def test_client_close_closes_everything(
        self, client: Client, redis_server: Server
    ) -> None:
        url = f"{redis_server.url}?client_name=kvdb-closeall"
        session = client.get_session("everything", url=url)
        session.set("test_client:all", 1)

        client.close()

        assert session.closed
        assert 0 == _client_count(redis_server.url, "kvdb-closeall")
        assert [] == client.sessions()

    def test_client_close_closes_replaced_sessions(
        self, client: Client, redis_server: Server
    ) -> None:
        url = f"{redis_server.url}?client_name=kvdb-replaced"
        old = client.get_session("replaced", url=url)
        old.set("test_client:replaced", 1)
        new = client.get_session("replaced", serializer="json")

        client.close()

        assert (True, True) == (old.closed, new.closed)
        assert 0 == _client_count(redis_server.url, "kvdb-replaced")
        with pytest.raises(SessionClosedError):
            old.get("test_client:replaced")

    def test_a_dropped_session_releases_its_pool(
        self, client: Client, redis_server: Server
    ) -> None:
        base = redis_server.url.rsplit("/", 1)[0]
        for db in (1, 2, 3):
            session = client.get_session("moving", url=f"{base}/{db}")
            session.set("test_client:moving", db)
        del session
        gc.collect()

        (info,) = client.pools()
        assert ("moving", f"{base.split('//')[1]}") == (info.sessions[0], info.server)
        assert b"3" == client.get_session("moving").get("test_client:moving")


class TestConcurrency:
    def test_many_threads(self, client: Client, redis_server: Server) -> None:
        session = client.get_session("threads", url=redis_server.url)
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                mine = client.get_session("threads")
                for i in range(50):
                    mine.set(f"test_client:thread:{n}", i)
                    assert str(i).encode() == mine.get(f"test_client:thread:{n}")
            except BaseException as exc:  # reported below, with its thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert [] == errors
        assert session is client.get_session("threads")

    def test_two_event_loops_in_a_row(
        self, client: Client, redis_server: Server
    ) -> None:
        session = client.get_session("loops", url=redis_server.url, serializer="json")

        async def roundtrip(value: int) -> object:
            await session.aset("test_client:loops", {"n": value})
            return await session.aget("test_client:loops")

        assert {"n": 1} == asyncio.run(roundtrip(1))
        assert {"n": 2} == asyncio.run(roundtrip(2))
        assert 0 == client.pools()[0].async_pools

    def test_event_loops_that_are_done_are_not_kept(
        self, client: Client, redis_server: Server
    ) -> None:
        session = client.get_session("many-loops", url=redis_server.url)
        loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

        async def use() -> None:
            loops.append(weakref.ref(asyncio.get_running_loop()))
            await session.aset("test_client:many-loops", 1)

        for _ in range(20):
            asyncio.run(use())
        gc.collect()

        assert [] == [ref for ref in loops if ref() is not None]
        assert 0 == client.pools()[0].async_pools

    async def test_async_pool_per_key(
        self, client: Client, redis_server: Server
    ) -> None:
        a = client.get_session("aa", url=redis_server.url)
        b = client.get_session("ab", url=redis_server.url, serializer="msgpack")

        await a.aset("test_client:apool", 1)
        await b.aset("test_client:apool2", [1, 2])

        assert a.pool_key == b.pool_key
        assert 1 == client.pools()[0].async_pools
        assert [1, 2] == await b.aget("test_client:apool2")

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_forked_child_gets_fresh_pools(
        self, client: Client, redis_server: Server
    ) -> None:
        session = client.get_session("fork", url=redis_server.url, serializer="json")
        session.set("test_client:fork", "parent")
        parent_pool = client.pools()[0]

        pid = os.fork()
        if pid == 0:  # the child: any failure becomes its exit status
            try:
                session.set("test_client:fork", "child")
                other = client.get_session("fork-2", url=redis_server.url)
                ok = "child" == session.get("test_client:fork")
                ok &= other.get("test_client:fork").endswith(b"child")
                # One pool in the child too, shared by the session made before
                # the fork and the one made after, with one connection.
                (info,) = client.pools()
                ok &= ("fork", "fork-2") == info.sessions
                ok &= 1 == info.sync_connections
                os._exit(0 if ok else 1)
            except BaseException:
                os._exit(2)

        _, status = os.waitpid(pid, 0)

        assert 0 == os.waitstatus_to_exitcode(status)
        assert "child" == session.get("test_client:fork")
        assert parent_pool.key == client.pools()[0].key


class TestSingleton:
    def test_reset_forgets_sessions(self, redis_server: Server) -> None:
        KVDBClient.configure(environ={})
        session = KVDBClient.get_session("singleton", url=redis_server.url)

        KVDBClient.reset()

        assert session.closed
        assert [] == KVDBClient.sessions()

    def test_declared_sessions_come_from_the_file(
        self, tmp_path: Path, redis_server: Server
    ) -> None:
        config = tmp_path / "kvdb.toml"
        config.write_text(
            textwrap.dedent(
                f"""
                [defaults]
                url = "{redis_server.url}"
                serializer = "json"

                [sessions.cache]
                key_prefix = "cache"
                compression = "zstd"
                """
            )
        )
        client = Client()
        client.configure(config, environ={})

        cache = client.get_session("cache")
        cache.set("test_client:file", {"a": 1})

        assert "cache" == cache.settings.key_prefix
        assert {"a": 1} == cache.get("test_client:file")
        with redis.Redis.from_url(redis_server.url) as raw:
            assert raw.exists("cache:test_client:file")
        client.close()


def _readme_quickstart() -> str:
    """The first Python example of README.md: the quickstart, as users copy it."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    quickstart = readme[readme.index("## Quickstart") :]
    return quickstart.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.fixture
def default_port_server(redis_binary: RedisBinary, tmp_path: Path) -> Iterator[Server]:
    """A server where the quickstart looks: localhost:6379, password "password".

    On a developer's machine a Redis of their own may hold the port; CI keeps
    it free (`.ci/run` stops Debian's service), so there the test must run.
    """
    try:
        server = start_server(
            redis_binary, tmp_path / "server", port=6379, password="password"
        )
    except Exception as exc:
        message = f"cannot start a server on port 6379 for the quickstart: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield server
    server.stop()


def test_quickstart_in_a_fresh_interpreter(
    default_port_server: Server, tmp_path: Path
) -> None:
    quickstart = _readme_quickstart()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KVDB_") and k != "REDIS_URL"
    }

    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", quickstart],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )

    assert "assert src_model == new_model" in quickstart
    assert 0 == result.returncode, result.stderr
    with redis.Redis(port=6379, password="password") as raw:
        assert b"value" == raw.get("key")
        assert raw.get("John") is not None


def test_reload_takes_effect_on_the_next_get_session(
    tmp_path: Path, redis_server: Server
) -> None:
    config = tmp_path / "kvdb.toml"
    config.write_text(f'[sessions.cache]\nurl = "{redis_server.url}"\n')
    client = Client()
    client.configure(config, environ={})
    before = client.get_session("cache")

    config.write_text(
        f'[sessions.cache]\nurl = "{redis_server.url}"\nserializer = "json"\n'
    )
    assert before is client.get_session("cache")
    client.reload()
    after = client.get_session("cache")

    assert after is not before
    assert "json" == after.settings.serializer
    assert after is client.get_session("cache")
    client.close()


def test_spellings_of_one_name_are_one_session(redis_server: Server) -> None:
    client = Client()
    client.configure(environ={})
    session = client.get_session("my-cache", url=redis_server.url)

    assert session is client.get_session("my_cache")
    assert session is client.get_session("MY-CACHE")
    assert ["my-cache"] == [info.name for info in client.sessions()]
    client.close()


def test_configure_uses_settings_already_loaded(tmp_path: Path) -> None:
    config = tmp_path / "kvdb.toml"
    config.write_text('[sessions.cache]\nserializer = "json"\n')
    loaded = load_settings(config, environ={})
    config.unlink()  # read once: configure() must not read it again
    client = Client()

    client.configure(config, environ={}, loaded=loaded)

    assert loaded is client.settings
    assert "json" == client.get_session("cache").settings.serializer
    client.close()
