"""The waiting line of a simulation: the Redis line of ``consumers/state/waiting.py`` as
heaps, one per need (``channel|queue``, ``assignment.needs``), ordered by the same score
(``assignment.waiting_member``: priority, then age).

Why per need: the sweep offers, in line order, only the tickets some free agent could
take (``worth_offering``). Keeping one heap per need turns that walk into comparing the
heads of the needs someone could serve, instead of reading the whole line each time.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from itertools import count

from consumers.domain.assignment import needs, waiting_member
from router.events import Ticket


class Line:
    def __init__(self) -> None:
        self._heaps: dict[str, list[tuple[float, int, str, str]]] = {}
        self.current: dict[str, str] = {}  # ticket -> its member while it waits
        self._order = count()

    def __len__(self) -> int:
        return len(self.current)

    def follow(self, ticket: Ticket) -> bool:
        """Keep the line in step with a ticket's latest state; True when it waits."""
        place = waiting_member(ticket)
        if place is None:
            self.current.pop(ticket.id, None)
            return False
        member, score = place
        if self.current.get(ticket.id) != member:
            self.current[ticket.id] = member
            heap = self._heaps.setdefault(needs(ticket), [])
            heapq.heappush(heap, (score, next(self._order), ticket.id, member))
        return True

    def leave(self, ticket_id: str) -> None:
        self.current.pop(ticket_id, None)

    def next_for(self, servable: Callable[[str], bool]) -> tuple[str, str] | None:
        """The first ticket in line (ticket id, need) that some free agent could take:
        the head, in line order, of the needs ``servable`` accepts."""
        best: tuple[float, int, str, str] | None = None
        best_need = ""
        for need, heap in self._heaps.items():
            while heap and self.current.get(heap[0][2]) != heap[0][3]:
                heapq.heappop(heap)  # left the line, or waits again in a later round
            if heap and (best is None or heap[0] < best) and servable(need):
                best, best_need = heap[0], need
        if best is None:
            return None
        return best[2], best_need

    def waiting_needs(self) -> Iterator[str]:
        """The needs (``channel|queue``) some ticket in line has."""
        for need, heap in self._heaps.items():
            while heap and self.current.get(heap[0][2]) != heap[0][3]:
                heapq.heappop(heap)
            if heap:
                yield need

    def pop(self, need: str) -> None:
        ticket_id = heapq.heappop(self._heaps[need])[2]
        self.current.pop(ticket_id, None)
