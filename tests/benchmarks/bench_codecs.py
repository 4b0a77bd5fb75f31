"""kvdb codecs beside bare orjson and beside pickle with zlib, in one run.

    .venv/bin/python -m tests.benchmarks.bench_codecs [--repeat N] [--pickle]

For each payload (a small pydantic model, a 10 KiB JSON-like document, a
1 MiB text) and each contender, it times encode and decode with `timeit`
(the best of `--repeat` runs, each long enough to be measured), and reports
the time per value, the stored size, and both as ratios to the floor (1.00
is parity; lower is better). No server is needed: only the codecs run.

Bare orjson is the floor: no frame, no types beyond JSON's, the model
dumped and validated by hand. pickle + zlib (stdlib, default level) is a
common default elsewhere.

`--pickle` measures the pickle serializer instead, beside bare pickle (the
floor, protocol 5): on payloads whose pickles hold the bytes of the set
opcodes but no set (numbers, CJK text, random bytes), on one whose pickle
lacks those bytes (a dict of ASCII text), and on two that hold sets.

This is a measurement, not a test: nothing fails when the machine is slow.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import pickle
import random
import string
import timeit
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from kvdb.codecs import build_codec
from kvdb.settings.models import SessionSettings


class Profile(BaseModel):
    id: int
    name: str
    email: str
    tags: list[str]
    active: bool
    created: dt.datetime


@dataclass(frozen=True)
class Contender:
    name: str
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]


@dataclass(frozen=True)
class Payload:
    name: str
    value: Any
    floor: Contender
    """The bare library the ratios are to, adapted to what the payload is."""


def _profile() -> Profile:
    return Profile(
        id=4211,
        name="Ada Lovelace",
        email="ada@example.com",
        tags=["admin", "beta", "eu-west"],
        active=True,
        created=dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
    )


def _document(rng: random.Random) -> list[dict[str, Any]]:
    """A JSON-like document of about 10 KiB: records of str, int, float, list."""
    records: list[dict[str, Any]] = []
    while len(orjson.dumps(records)) < 10 * 1024:
        records.append(
            {
                "id": rng.randrange(10**6),
                "name": _word(rng, 12),
                "email": f"{_word(rng, 8)}@example.com",
                "score": round(rng.random() * 100, 2),
                "tags": [_word(rng, 5) for _ in range(3)],
                "active": rng.random() < 0.5,
            }
        )
    return records


def _text(rng: random.Random) -> str:
    """1 MiB of text drawn from a vocabulary, so it compresses like prose."""
    vocabulary = [_word(rng, rng.randint(2, 10)) for _ in range(3000)]
    words: list[str] = []
    size = 0
    while size < 1024 * 1024:
        word = rng.choice(vocabulary)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[: 1024 * 1024]


def _word(rng: random.Random, length: int) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=length))


def _cjk(rng: random.Random, length: int) -> str:
    return "".join(chr(rng.randrange(0x4E00, 0xA000)) for _ in range(length))


def _payloads() -> list[Payload]:
    rng = random.Random(20240501)
    bare = Contender("bare orjson", orjson.dumps, orjson.loads)
    bare_model = Contender(
        "bare orjson",
        lambda model: orjson.dumps(model.model_dump()),
        lambda data: Profile.model_validate(orjson.loads(data)),
    )
    return [
        Payload("small pydantic model", _profile(), bare_model),
        Payload("10 KiB document", _document(rng), bare),
        Payload("1 MiB text", _text(rng), bare),
    ]


def _pickle_payloads() -> list[Payload]:
    rng = random.Random(20240501)
    bare = Contender(
        "bare pickle",
        functools.partial(pickle.dumps, protocol=5),
        pickle.loads,
    )
    words = [_word(rng, 8) for _ in range(20_000)]
    return [
        Payload("100k ints", list(range(100_000)), bare),
        Payload("100k floats", [rng.random() for _ in range(100_000)], bare),
        Payload("20k-key dict of str", {w: w.upper() for w in words}, bare),
        Payload("10k CJK strings", [_cjk(rng, 8) for _ in range(10_000)], bare),
        Payload("1 MiB of bytes in a tuple", (rng.randbytes(1 << 20),), bare),
        Payload("dict of 1k sets", {w: {w, w.upper()} for w in words[:1000]}, bare),
        Payload("small pydantic model", _profile(), bare),
    ]


def _pickle_contenders() -> list[Contender]:
    return [
        _kvdb(
            "kvdb pickle",
            serializer="pickle",
            serializer_kwargs={"picklelib": "pickle"},
        ),
        _kvdb("kvdb cloudpickle", serializer="pickle"),
    ]


def _kvdb(name: str, **settings: Any) -> Contender:
    codec = build_codec(SessionSettings(**settings))
    return Contender(name, codec.encode, codec.decode)


def _contenders() -> list[Contender]:
    return [
        _kvdb("kvdb json + zstd", serializer="json", compression="zstd"),
        _kvdb("kvdb json", serializer="json"),
        _kvdb("kvdb msgpack", serializer="msgpack"),
        _kvdb("kvdb pickle + zstd", serializer="pickle", compression="zstd"),
        Contender(
            "pickle + zlib",
            lambda value: zlib.compress(pickle.dumps(value)),
            lambda data: pickle.loads(zlib.decompress(data)),
        ),
    ]


@dataclass(frozen=True)
class Result:
    contender: str
    encode: float
    decode: float
    size: int

    @property
    def total(self) -> float:
        return self.encode + self.decode


class _Timing:
    """The best time per call of one function, over rounds."""

    def __init__(self, func: Callable[[], object]) -> None:
        self._timer = timeit.Timer(func)
        self._number, _ = self._timer.autorange()
        self.best = float("inf")

    def run(self) -> None:
        self.best = min(self.best, self._timer.timeit(self._number) / self._number)


def _measure(contenders: list[Contender], value: Any, repeat: int) -> list[Result]:
    """Time every contender on `value`, taking turns round after round.

    Taking turns spreads the drift of a busy machine over all contenders
    instead of charging it to whichever ran when it happened.
    """
    timings = []
    sizes = []
    for contender in contenders:
        data = contender.encode(value)
        if contender.decode(data) != value:
            raise AssertionError(f"{contender.name} does not round-trip {value!r:.60}")
        sizes.append(len(data))
        timings.append(
            (
                _Timing(functools.partial(contender.encode, value)),
                _Timing(functools.partial(contender.decode, data)),
            )
        )

    for _ in range(repeat):
        for encode, decode in timings:
            encode.run()
            decode.run()

    return [
        Result(contender.name, encode.best, decode.best, size)
        for contender, (encode, decode), size in zip(
            contenders, timings, sizes, strict=True
        )
    ]


def _table(payload: Payload, results: list[Result]) -> Table:
    floor = results[0]
    table = Table(title=payload.name, title_justify="left")
    table.add_column("", no_wrap=True)
    ratio = "x " + floor.contender.removeprefix("bare ")
    for column in ("encode", "decode", "total", ratio, "size", ratio):
        table.add_column(column, justify="right", no_wrap=True)
    for result in results:
        table.add_row(
            result.contender,
            _time(result.encode),
            _time(result.decode),
            _time(result.total),
            f"{result.total / floor.total:.2f}",
            f"{result.size:,}",
            f"{result.size / floor.size:.2f}",
        )
    return table


def _time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1e3:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timing runs each")
    parser.add_argument(
        "--pickle", action="store_true", help="the pickle serializer beside pickle"
    )
    args = parser.parse_args()

    console = Console(width=100)
    if args.pickle:
        payloads, contenders = _pickle_payloads(), _pickle_contenders()
    else:
        payloads, contenders = _payloads(), _contenders()
    for payload in payloads:
        results = _measure([payload.floor, *contenders], payload.value, args.repeat)
        console.print(_table(payload, results))


if __name__ == "__main__":
    # Run the imported module, not this `__main__` copy: cloudpickle pickles
    # classes of `__main__` by value, which no application stores.
    from tests.benchmarks import bench_codecs

    bench_codecs.main()
