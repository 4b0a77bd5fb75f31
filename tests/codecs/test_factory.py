"""build_codec: which codec the settings give, and which settings it refuses."""

from __future__ import annotations

import random
from typing import Any

import pytest

import kvdb.codecs
from kvdb.codecs import _factory, _frame, build_codec
from kvdb.codecs._compressors import COMPRESSORS
from kvdb.codecs._serializers import PICKLE_LIBRARIES
from kvdb.errors import ConfigError, MissingDependencyError
from kvdb.settings.models import SessionSettings
from tests.codecs.support import make_codec

COMPRESSIBLE = "abc" * 1000
KEY = "0123456789abcdef-secret"


def test_the_public_names_are_sorted_and_exist() -> None:
    assert sorted(kvdb.codecs.__all__) == kvdb.codecs.__all__
    for name in kvdb.codecs.__all__:
        assert hasattr(kvdb.codecs, name)


def test_auto_is_json() -> None:
    assert _frame.JSON == make_codec(serializer="auto").encode([1])[3]


class TestCompressionEnabled:
    @pytest.mark.parametrize(
        ("settings", "expected"),
        [
            ({}, None),
            ({"compression": "lz4"}, "lz4"),
            ({"compression_enabled": True}, "zstd"),
            ({"compression_enabled": True, "compression": "gzip"}, "gzip"),
            ({"compression_enabled": False, "compression": "gzip"}, None),
            ({"compression_enabled": False}, None),
        ],
        ids=[
            "unset",
            "named",
            "enabled",
            "enabled and named",
            "disabled though named",
            "disabled",
        ],
    )
    def test_which_compressor(
        self, settings: dict[str, Any], expected: str | None
    ) -> None:
        codec = make_codec(serializer="json", **settings)

        expected_id = COMPRESSORS[expected].id if expected else 0
        assert expected_id == codec.encode(COMPRESSIBLE)[4]

    def test_the_level_is_honoured(self) -> None:
        fast = make_codec(serializer="json", compression="zstd", compression_level=1)
        small = make_codec(serializer="json", compression="zstd", compression_level=19)
        rng = random.Random(1)
        vocabulary = ["".join(rng.choices("abcdefghij", k=6)) for _ in range(500)]
        text = " ".join(rng.choice(vocabulary) for _ in range(20_000))

        assert len(small.encode(text)) < len(fast.encode(text))

    def test_the_threshold_is_honoured(self) -> None:
        codec = make_codec(
            serializer="json", compression="zstd", compression_threshold=10_000
        )

        assert 0 == codec.encode(COMPRESSIBLE)[4]


class TestConfigErrors:
    @pytest.mark.parametrize(
        ("settings", "message"),
        [
            (
                {"compression": "zstd"},
                "compression needs a serializer: compression is 'zstd'",
            ),
            (
                {"compression_enabled": True},
                "compression needs a serializer: compression_enabled is true",
            ),
            (
                {"serializer_kwargs": {"jsonlib": "ujson"}},
                "serializer_kwargs is set but serializer",
            ),
            (
                {"signing_key": KEY},
                "signing_key signs pickle frames, but serializer is not set",
            ),
            (
                {"serializer": "json", "serializer_kwargs": {"picklelib": "dill"}},
                "unknown option 'picklelib' for the json serializer, which takes "
                "only jsonlib",
            ),
            (
                {"serializer": "msgpack", "serializer_kwargs": {"jsonlib": "orjson"}},
                "unknown option 'jsonlib' for the msgpack serializer, which takes "
                "no options",
            ),
            (
                {"serializer": "pickle", "serializer_kwargs": {"protocol": 2}},
                "unknown option 'protocol' for the pickle serializer",
            ),
            (
                {"serializer": "json", "serializer_kwargs": {"jsonlib": "rapidjson"}},
                "jsonlib 'rapidjson' is not a library kvdb knows; choose one of "
                "orjson, ujson, simdjson, json",
            ),
            (
                {"serializer": "pickle", "serializer_kwargs": {"picklelib": "marshal"}},
                "picklelib 'marshal' is not a library kvdb knows",
            ),
            (
                {"serializer": "json", "compression": "zstd", "compression_level": 23},
                "compression_level: 23 is not a zstd level; choose from 1 to 22",
            ),
            (
                {"serializer": "json", "compression": "snappy", "compression_level": 1},
                "compression_level: snappy has no compression levels",
            ),
            (
                {"serializer": "json", "signing_key": KEY},
                "signing_key signs pickle frames, but serializer is 'json'",
            ),
            (
                {"serializer": "pickle", "signing_key": "short"},
                "signing_key is shorter than 16 bytes",
            ),
            (
                {"serializer": "json", "trusted_modules": ["my app"]},
                "trusted_modules: 'my app' is not a module name",
            ),
        ],
        ids=[
            "compression without serializer",
            "compression enabled without serializer",
            "options without serializer",
            "signing key without serializer",
            "json option unknown",
            "msgpack options",
            "pickle option unknown",
            "jsonlib unknown",
            "picklelib unknown",
            "level out of range",
            "level of snappy",
            "signing key with json",
            "signing key too short",
            "trusted module not a name",
        ],
    )
    def test_a_bad_combination_is_refused(
        self, settings: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(ConfigError) as caught:
            make_codec(**settings)

        assert message in str(caught.value)

    def test_disabling_a_named_compression_needs_no_serializer(self) -> None:
        assert make_codec(compression="zstd", compression_enabled=False).passthrough

    def test_an_unknown_serializer_is_refused(self) -> None:
        # model_construct skips validation, as a settings bug would.
        serializer: Any = "yaml"
        settings = SessionSettings.model_construct(serializer=serializer)

        with pytest.raises(ConfigError, match="unknown serializer 'yaml'"):
            build_codec(settings)

    def test_an_unknown_compression_is_refused(self) -> None:
        settings = SessionSettings().model_copy(
            update={"serializer": "json", "compression": "lzma"}
        )

        with pytest.raises(ConfigError, match="unknown compression 'lzma'"):
            build_codec(settings)

    def test_the_signing_key_never_shows(self) -> None:
        with pytest.raises(ConfigError) as caught:
            make_codec(serializer="json", signing_key=KEY)
        codec = make_codec(serializer="pickle", signing_key=KEY)

        assert KEY not in str(caught.value)
        assert KEY not in repr(codec)
        assert "signed=True" in repr(codec)


class TestMissingLibraries:
    @pytest.mark.parametrize(
        ("option", "library", "registry"),
        [
            ("jsonlib", "ujson", "JSON_LIBRARIES"),
            ("jsonlib", "simdjson", "JSON_LIBRARIES"),
            ("picklelib", "cloudpickle", "PICKLE_LIBRARIES"),
            ("picklelib", "dill", "PICKLE_LIBRARIES"),
        ],
        ids=["ujson", "simdjson", "cloudpickle", "dill"],
    )
    def test_the_extra_to_install_is_named(
        self, monkeypatch: pytest.MonkeyPatch, option: str, library: str, registry: str
    ) -> None:
        installed = dict(getattr(_factory, registry))
        del installed[library]
        monkeypatch.setattr(_factory, registry, installed)
        serializer = "json" if option == "jsonlib" else "pickle"

        with pytest.raises(MissingDependencyError) as caught:
            make_codec(serializer=serializer, serializer_kwargs={option: library})

        assert f"pip install 'kvdb[{library}]'" in str(caught.value)

    def test_a_compression_cramjam_lacks_is_named(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(_factory, "COMPRESSORS", {})

        with pytest.raises(MissingDependencyError, match="cramjam has no 'brotli'"):
            make_codec(serializer="json", compression="brotli")

    def test_pickle_defaults_to_the_first_installed(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        installed = dict(PICKLE_LIBRARIES)
        assert "cloudpickle" == next(iter(installed))
        del installed["cloudpickle"]
        monkeypatch.setattr(_factory, "PICKLE_LIBRARIES", installed)

        codec = make_codec(serializer="pickle")

        assert "picklelib='dill'" in repr(codec)
