"""A bounded in-process memory: the last entries set, the oldest forgotten first.

For what a process remembers only to save work (a read, an offer), never for what
correctness rests on: forgetting an entry, or all of them at a restart, costs that work.
"""

from __future__ import annotations

from typing import TypeVar

V = TypeVar("V")


class Recent(dict[str, V]):
    """At most ``bound`` entries; setting one more forgets the one set first."""

    def __init__(self, bound: int) -> None:
        super().__init__()
        self._bound = bound

    def remember(self, key: str, value: V) -> None:
        self[key] = value
        if len(self) > self._bound:
            del self[next(iter(self))]
