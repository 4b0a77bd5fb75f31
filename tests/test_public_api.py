"""The public surface: what `kvdb` exports, and the exception tree."""

from __future__ import annotations

import inspect

import pytest

import kvdb
from kvdb import errors


def test_all_names_exist() -> None:
    missing = [name for name in kvdb.__all__ if not hasattr(kvdb, name)]

    assert [] == missing


def test_all_is_complete() -> None:
    # Every public name that kvdb's __init__ brings in is meant for users;
    # modules (kvdb.errors, kvdb.settings...) are reached by attribute.
    public = {
        name
        for name, value in vars(kvdb).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }

    assert set() == public - set(kvdb.__all__)


def test_every_public_error_is_exported() -> None:
    classes = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, errors.KVDBError)
    }

    assert sorted(errors.__all__) == sorted(classes)
    assert classes <= set(kvdb.__all__)


def test_the_tree_in_the_docstring_is_the_real_one() -> None:
    doc = errors.__doc__ or ""

    for name in errors.__all__:
        assert name in doc, f"{name} is missing from the drawing of the tree"


@pytest.mark.parametrize(
    ("error", "bases"),
    [
        (errors.ConfigError, (errors.KVDBError, ValueError)),
        (errors.MissingDependencyError, (errors.ConfigError,)),
        (errors.DecodeError, (errors.CodecError,)),
        (errors.ValueTooLargeError, (errors.EncodeError, ValueError)),
        (errors.ServerTimeoutError, (errors.ServerConnectionError,)),
        (errors.AuthenticationError, (errors.ServerError,)),
        (errors.TopologyError, (errors.ServerError,)),
    ],
    ids=lambda value: getattr(value, "__name__", "bases"),
)
def test_exception_tree(error: type[Exception], bases: tuple[type, ...]) -> None:
    for base in bases:
        assert issubclass(error, base)


def test_the_names_the_issue_promises() -> None:
    for name in (
        "KVDBClient",
        "KVDBSession",
        "SessionSettings",
        "KVDBError",
        "ConfigError",
        "DecodeError",
        "register_type",
    ):
        assert name in kvdb.__all__
