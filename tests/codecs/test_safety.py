"""Reading is safe: no import, no unpickling, unless the session allows it."""

from __future__ import annotations

import dataclasses
import enum
import pickle
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import msgpack
import orjson
import pytest
from pydantic import BaseModel

from kvdb.codecs import _frame, register_type
from kvdb.errors import ConfigError, DecodeError, EncodeError
from tests.codecs.support import Point, make_codec

KEY = "0123456789abcdef-secret"
OTHER_KEY = "fedcba9876543210-secret"

PROBE_SOURCE = textwrap.dedent(
    """
    import dataclasses, enum
    from pydantic import BaseModel

    @dataclasses.dataclass
    class Thing:
        x: int

    class Mood(enum.Enum):
        OK = 1

    class Note(BaseModel):
        text: str
    """
)


def _typed_frame(tree: Any, serializer: str = "json") -> bytes:
    if serializer == "json":
        return _frame.header(_frame.JSON, 0, _frame.TYPED) + orjson.dumps(tree)
    packed: bytes = msgpack.packb(tree)
    return _frame.header(_frame.MSGPACK, 0, _frame.TYPED) + packed


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The name of a module, importable but not imported, and a package too.

    `<name>` holds Thing (a dataclass), Mood (an Enum) and Note (a model);
    `<name>_pkg.models` holds the same.
    """
    name = f"kvdb_probe_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(PROBE_SOURCE)
    package = tmp_path / f"{name}_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(PROBE_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))

    yield name

    for module in (name, f"{name}_pkg", f"{name}_pkg.models"):
        sys.modules.pop(module, None)


SERIALIZERS = ["json", "msgpack"]


class TestNoImport:
    @pytest.mark.parametrize("serializer", SERIALIZERS)
    @pytest.mark.parametrize(
        "tree",
        [{"~o": ["{module}:Thing", {"x": 1}]}, {"~e": ["{module}:Mood", 1]}],
        ids=["object", "enum"],
    )
    def test_an_unimported_module_is_not_imported(
        self, probe: str, serializer: str, tree: dict[str, Any]
    ) -> None:
        codec = make_codec(serializer=serializer)
        tag, (name, payload) = next(iter(tree.items()))
        data = _typed_frame({tag: [name.format(module=probe), payload]}, serializer)

        with pytest.raises(
            DecodeError, match="not imported and not in trusted_modules"
        ):
            codec.decode(data, "k")

        assert probe not in sys.modules

    @pytest.mark.parametrize("serializer", SERIALIZERS)
    def test_a_trusted_module_is_imported(self, probe: str, serializer: str) -> None:
        codec = make_codec(serializer=serializer, trusted_modules=[probe])
        data = _typed_frame(
            [
                {"~o": [f"{probe}:Thing", {"x": 1}]},
                {"~e": [f"{probe}:Mood", 1]},
                {"~o": [f"{probe}:Note", {"text": "hi"}]},
            ],
            serializer,
        )

        thing, mood, note = codec.decode(data)

        module = sys.modules[probe]
        assert module.Thing(1) == thing
        assert module.Mood.OK is mood
        assert module.Note(text="hi") == note

    def test_a_trusted_package_trusts_its_submodules(self, probe: str) -> None:
        codec = make_codec(serializer="json", trusted_modules=[f"{probe}_pkg"])
        data = _typed_frame({"~o": [f"{probe}_pkg.models:Thing", {"x": 2}]})

        assert 2 == codec.decode(data).x
        assert f"{probe}_pkg.models" in sys.modules

    def test_trust_is_not_a_string_prefix(self, probe: str) -> None:
        codec = make_codec(serializer="json", trusted_modules=[probe[:-1]])
        data = _typed_frame({"~o": [f"{probe}:Thing", {"x": 1}]})

        with pytest.raises(DecodeError, match="not in trusted_modules"):
            codec.decode(data)

        assert probe not in sys.modules

    def test_an_imported_module_needs_no_trust(self) -> None:
        codec = make_codec(serializer="json")
        data = _typed_frame({"~o": ["tests.codecs.support:Point", {"x": 1, "y": 2}]})

        assert Point(1, 2) == codec.decode(data)

    def test_a_module_getattr_hook_never_runs(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls: list[str] = []
        module = type(sys)("kvdb_hooked")
        module.__getattr__ = calls.append  # type: ignore[method-assign]  # PEP 562 hook
        monkeypatch.setitem(sys.modules, "kvdb_hooked", module)
        codec = make_codec(serializer="json")

        with pytest.raises(DecodeError, match="does not name a class"):
            codec.decode(_typed_frame({"~o": ["kvdb_hooked:Lazy", {}]}))

        assert [] == calls


class TestOnlyAllowedClasses:
    @pytest.mark.parametrize(
        ("tree", "reason"),
        [
            ({"~o": ["os:system", {}]}, "os:system does not name a class"),
            ({"~o": ["os:path", {}]}, "os:path does not name a class"),
            ({"~o": ["builtins:dict", {}]}, "not a pydantic model or a dataclass"),
            ({"~o": ["tests.codecs.support:Color", {}]}, "not a pydantic model"),
            ({"~e": ["tests.codecs.support:Point", 1]}, "is not an Enum"),
            ({"~o": ["no-such-name", {}]}, "no class is registered as 'no-such-name'"),
            ({"~o": [".relative:X", {}]}, "no class is registered as '.relative:X'"),
        ],
        ids=[
            "function",
            "module",
            "builtin class",
            "enum as object",
            "dataclass as enum",
            "unregistered name",
            "relative module",
        ],
    )
    def test_a_class_of_another_kind_is_refused(self, tree: Any, reason: str) -> None:
        codec = make_codec(serializer="json")

        with pytest.raises(DecodeError, match=reason):
            codec.decode(_typed_frame(tree), "k")


# A pickle that records that it ran, to prove refusals happen before unpickling.
UNPICKLED: list[str] = []


def _record(tag: str) -> str:
    UNPICKLED.append(tag)
    return tag


class _Trap:
    def __reduce__(self) -> tuple[Any, ...]:
        return _record, ("ran",)


def _pickle_frame(flags: int = 0, signature: bytes = b"") -> bytes:
    return _frame.header(_frame.PICKLE, 0, flags) + signature + pickle.dumps(_Trap())


class TestPickleFrames:
    @pytest.fixture(autouse=True)
    def _reset(self) -> None:
        UNPICKLED.clear()

    @pytest.mark.parametrize("serializer", SERIALIZERS)
    def test_other_sessions_refuse_pickle(self, serializer: str) -> None:
        codec = make_codec(serializer=serializer)

        with pytest.raises(
            DecodeError, match="only a session whose serializer is pickle"
        ):
            codec.decode(_pickle_frame(), "k")

        assert [] == UNPICKLED

    def test_pickle_sessions_read_pickle(self) -> None:
        assert "ran" == make_codec(serializer="pickle").decode(_pickle_frame())

    def test_signed_frames_round_trip(self) -> None:
        codec = make_codec(serializer="pickle", signing_key=KEY)

        data = codec.encode({"a": {1, 2}})

        assert _frame.SIGNED == data[5] & _frame.SIGNED
        assert {"a": {1, 2}} == codec.decode(data)

    def test_another_key_is_refused(self) -> None:
        reader = make_codec(serializer="pickle", signing_key=KEY)
        head = _frame.header(_frame.PICKLE, 0, _frame.SIGNED)
        body = pickle.dumps(_Trap())
        signature = _frame.Signer(OTHER_KEY.encode()).signature(head, body)
        data = head + signature + body

        with pytest.raises(DecodeError, match="signature does not match"):
            reader.decode(data, "k")

        assert [] == UNPICKLED

    def test_an_altered_frame_is_refused(self) -> None:
        codec = make_codec(serializer="pickle", signing_key=KEY)
        data = bytearray(codec.encode(["payload"]))
        data[-2] ^= 0x01

        with pytest.raises(DecodeError, match="signature does not match"):
            codec.decode(bytes(data))

    def test_an_altered_header_is_refused(self) -> None:
        codec = make_codec(serializer="pickle", signing_key=KEY)
        data = bytearray(codec.encode(["payload"]))
        data[5] |= _frame.TYPED

        with pytest.raises(DecodeError, match="signature does not match"):
            codec.decode(bytes(data))

    def test_an_unsigned_pickle_is_refused(self) -> None:
        codec = make_codec(serializer="pickle", signing_key=KEY)

        with pytest.raises(DecodeError, match="not signed"):
            codec.decode(_pickle_frame(), "k")

        assert [] == UNPICKLED

    def test_a_keyed_session_reads_unsigned_frames_of_other_kinds(self) -> None:
        writer = make_codec(serializer="json")
        reader = make_codec(serializer="pickle", signing_key=KEY)

        assert ["a", (1,)] == reader.decode(writer.encode(["a", (1,)]))
        assert "text" == reader.decode(writer.encode("text"))

    def test_a_session_without_a_key_reads_signed_frames(self) -> None:
        writer = make_codec(serializer="pickle", signing_key=KEY)

        assert [1.5] == make_codec(serializer="pickle").decode(writer.encode([1.5]))


class TestRegisterType:
    def test_a_registered_name_is_stored(self) -> None:
        name = f"test-{uuid.uuid4().hex}"

        @register_type(name=name)
        @dataclasses.dataclass
        class Local:
            value: int

        codec = make_codec(serializer="json")
        data = codec.encode(Local(3))

        assert name.encode() in data
        assert b"<locals>" not in data
        assert Local(3) == codec.decode(data)

    def test_a_registered_name_survives_a_move(self) -> None:
        name = f"test-{uuid.uuid4().hex}"

        class Moved(BaseModel):
            value: int

        register_type(Moved, name=name)
        data = _typed_frame({"~o": [name, {"value": 4}]}, "msgpack")

        assert Moved(value=4) == make_codec(serializer="msgpack").decode(data)

    def test_the_default_name_is_the_module_path(self) -> None:
        @register_type
        class Kind(enum.Enum):
            A = "a"

        data = make_codec(serializer="json").encode(Kind.A)

        assert f"{__name__}:{Kind.__qualname__}".encode() in data

    def test_an_unregistered_local_class_is_refused_when_written(self) -> None:
        @dataclasses.dataclass
        class Local:
            value: int

        with pytest.raises(EncodeError, match=r"register it with kvdb\.register_type"):
            make_codec(serializer="json").encode(Local(1), "k")

    def test_a_parametrized_generic_model_needs_registering(self) -> None:
        with pytest.raises(EncodeError, match="cannot be found again"):
            make_codec(serializer="json").encode(Page[int](items=[1]))

        register_type(Page[str], name=f"page-of-str-{uuid.uuid4().hex}")
        codec = make_codec(serializer="json")

        assert Page[str](items=["a"]) == codec.decode(
            codec.encode(Page[str](items=["a"]))
        )

    def test_a_name_means_one_class(self) -> None:
        name = f"test-{uuid.uuid4().hex}"
        register_type(_First, name=name)

        with pytest.raises(ConfigError, match=f"{name!r} is already registered"):
            register_type(_Second, name=name)

    def test_a_class_has_one_name(self) -> None:
        register_type(_Third, name=f"test-{uuid.uuid4().hex}")

        with pytest.raises(ConfigError, match="_Third is already registered as"):
            register_type(_Third, name=f"test-{uuid.uuid4().hex}")

    def test_registering_again_is_harmless(self) -> None:
        name = f"test-{uuid.uuid4().hex}"

        assert _Fourth is register_type(_Fourth, name=name)
        assert _Fourth is register_type(_Fourth, name=name)

    def test_a_redefined_class_replaces_its_namesake(self) -> None:
        name = f"test-{uuid.uuid4().hex}"
        first, second = _define_twice()
        register_type(first, name=name)
        register_type(second, name=name)

        value = make_codec(serializer="json").decode(_typed_frame({"~o": [name, {}]}))

        assert type(value) is second

    @pytest.mark.parametrize(
        "cls",
        [dict, int, object, type("Plain", (), {})],
        ids=["dict", "int", "object", "plain"],
    )
    def test_only_models_dataclasses_and_enums_register(self, cls: type) -> None:
        with pytest.raises(TypeError, match="a pydantic model, a dataclass or an Enum"):
            register_type(cls)


_T = TypeVar("_T")


class Page(BaseModel, Generic[_T]):
    items: list[_T]


@dataclasses.dataclass
class _First:
    pass


@dataclasses.dataclass
class _Second:
    pass


@dataclasses.dataclass
class _Third:
    pass


@dataclasses.dataclass
class _Fourth:
    pass


def _define_twice() -> tuple[type, type]:
    classes = []
    for _ in range(2):

        @dataclasses.dataclass
        class Reloaded:
            pass

        classes.append(Reloaded)
    return classes[0], classes[1]
