"""Type aliases and sentinels shared across kvdb."""

from __future__ import annotations

import enum
from typing import Final, Literal, TypeAlias


class _NotGiven(enum.Enum):
    """The type of `NOT_GIVEN`, so that type checkers can narrow it."""

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN: Final = _NotGiven.NOT_GIVEN
"""Marks an argument that was not passed, where `None` is a real value."""

NotGiven: TypeAlias = Literal[_NotGiven.NOT_GIVEN]
