"""The simulation against queueing theory: one queue, Poisson arrivals, exponential
handling, N identical agents always on shift (M/M/N). Erlang C, computed here, gives
the probability that a customer waits and the mean wait; the simulation, running the
router's own routing and assignment, must agree.

Tolerance, stated: P(wait) within 0.03 absolute (about three standard errors of the
estimate at this load and length: at 80% occupancy consecutive customers' waits are
strongly correlated, so 100,000 arrivals weigh like roughly 1,500 independent ones),
mean wait within 10% relative. Occupancy must match the offered load within 0.02.

Length: ``SIMULATE_ERLANG_ARRIVALS``, default 20,000 (about 10 s), with three times the
margins above (the estimate is noisier). The router's own per-message work is most of
the cost, so the 100,000 arrivals of the full check take some 45 s, too long for every
``make test``: run it with
``SIMULATE_ERLANG_ARRIVALS=100000 .venv/bin/pytest tests/unit/simulate/test_erlang_c.py``
(last run: P(wait) 0.4077 against 0.4092, mean wait 62.5 s against 61.4 s).
"""

from __future__ import annotations

import asyncio
import math
import os
import random
from datetime import UTC, datetime

import orjson
import pytest

from router.app.simulate.day import DayEvent, parse_line
from router.app.simulate.engine import simulate
from router.app.simulate.roster import loads_roster
from rules import loads_ruleset

pytestmark = pytest.mark.unit

ARRIVALS = int(os.environ.get("SIMULATE_ERLANG_ARRIVALS", "20000"))
AGENTS = 10
MEAN_HANDLING_S = 300.0
OFFERED_LOAD = 8.0  # Erlangs: arrival rate x mean handling time
RULES = """
version: 1
queues: {general: {}}
defaults: {queue: general}
assignment: {capacity: {chat: 1}}
"""


def erlang_c(agents: int, load: float) -> float:
    """Probability that an arrival waits in M/M/``agents`` at ``load`` Erlangs."""
    top = load**agents / math.factorial(agents) * agents / (agents - load)
    return top / (sum(load**k / math.factorial(k) for k in range(agents)) + top)


def poisson_day(arrivals: int, rate_per_s: float, seed: int) -> list[DayEvent]:
    """``arrivals`` chat messages, each from a new customer, exponential gaps."""
    rng = random.Random(seed)
    t = datetime(2026, 11, 2, tzinfo=UTC).timestamp()
    events = []
    for i in range(arrivals):
        t += rng.expovariate(rate_per_s)
        at = datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
        envelope = {
            "specversion": "1.0",
            "id": f"erlang-{i}",
            "source": "/test/erlang",
            "type": "switchboard.interaction.received",
            "time": at,
            "data": {"channel": "chat", "customer": {"email": f"c{i}@erlang.example"}},
        }
        events.append(parse_line(orjson.dumps(envelope), f"arrival {i}"))
    return events


def test_erlang_c_formula_against_a_textbook_value() -> None:
    # 2 agents, 1 Erlang: C = (1/2 * 2/1) / (1 + 1 + 1) = 1/3
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)


def test_simulated_waits_agree_with_erlang_c() -> None:
    rate = OFFERED_LOAD / MEAN_HANDLING_S
    day = poisson_day(ARRIVALS, rate, seed=11)
    days = ", ".join(
        f"{d}: ['00:00-24:00']" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    )
    roster = loads_roster(
        f"version: 1\ntimezone: UTC\nseed: 5\n"
        f"agents: [{{group: agent, count: {AGENTS}, shifts: {{{days}}}}}]\n"
        f"handling: [{{exponential: {{mean: {MEAN_HANDLING_S}}}}}]\n",
        "erlang-roster.yaml",
    )
    result = asyncio.run(simulate(loads_ruleset(RULES), roster, day))
    overall = result.report["overall"]

    p_wait = erlang_c(AGENTS, OFFERED_LOAD)
    mean_wait = p_wait / (AGENTS / MEAN_HANDLING_S - rate)
    widen = 1 if ARRIVALS >= 100_000 else 3
    print(  # the figures the README quotes
        f"\n{ARRIVALS} arrivals in {result.wall_s:.1f} s: P(wait) {overall['p_wait']:.4f} "
        f"(Erlang C {p_wait:.4f}), mean wait {overall['wait_mean_s']:.1f} s "
        f"(Erlang C {mean_wait:.1f} s), occupancy {overall['occupancy']:.4f}"
    )
    assert overall["offered"] == overall["handled"] == ARRIVALS
    assert overall["abandoned"] == 0
    assert overall["p_wait"] == pytest.approx(p_wait, abs=0.03 * widen)
    assert overall["wait_mean_s"] == pytest.approx(mean_wait, rel=0.10 * widen)
    assert overall["occupancy"] == pytest.approx(OFFERED_LOAD / AGENTS, abs=0.02 * widen)
