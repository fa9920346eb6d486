"""Whom ``switchboard forget --customer`` names: a ``C-`` id Switchboard never makes is a
typo (exit 2, saying what an id looks like), not a customer erased before (exit 0)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from router.app.embedded import free_port
from router.app.forget import identity_of
from router.ids import customer_id_for, new_customer_id

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]


def test_ids_switchboard_makes_are_customer_ids() -> None:
    for who in (new_customer_id(), customer_id_for("email:a@b.c")):
        assert identity_of(who) is None
        assert identity_of(f"  {who} ") is None


@pytest.mark.parametrize(
    "who", ["C-nothex", "C-7b678", "C-7B678E0A12C4D5F6", "C-7b678e0a12c4d5f6a", "C-"]
)
def test_a_customer_id_switchboard_never_makes_is_refused_saying_what_one_is(who: str) -> None:
    with pytest.raises(ValueError, match="C- and 16 lowercase hex digits") as caught:
        identity_of(who)
    assert repr(who) in str(caught.value)


@pytest.mark.parametrize("who", ["C-nothex", "C-[red]x"])  # the second as typed, not markup
def test_the_command_exits_2_on_a_malformed_id_before_connecting_to_anything(who: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env["SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{free_port()}"
    env["SWITCHBOARD_REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    result = subprocess.run(
        [sys.executable, "-m", "router.app", "forget", "--customer", who],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""  # not "no such customer"
    assert result.stderr.splitlines() == [
        f"error: --customer: {who!r} is no customer id: one is C- and 16 lowercase hex "
        "digits, e.g. C-7b678e0a12c4d5f6"
    ]


@pytest.mark.parametrize(
    ("who", "identity"),
    [
        ("Email:Bob@Example.com", "email:bob@example.com"),
        ("EMAIL:bob@example.com", "email:bob@example.com"),
        ("Phone:+1 555 000 1234", "phone:+15550001234"),
        ("Chat:v-frank", "chat:v-frank"),
    ],
)
def test_the_kind_of_an_identity_is_read_in_any_case(who: str, identity: str) -> None:
    """``Email:bob@example.com`` had been read as the address ``email:bob@example.com``
    (its local part ``Email:bob``): "no such customer", exit 0, Bob still stored."""
    assert identity_of(who) == identity


@pytest.mark.parametrize(
    ("who", "identity"),
    [
        ("chat:kim@example.com", "chat:kim@example.com"),
        ("voice:sip:alice@pbx.example.com", "voice:sip:alice@pbx.example.com"),
        ("CRM:a@b.com", "crm:a@b.com"),
        ("mailto:Bob@Example.com", "email:bob@example.com"),
        ("bob@example.com", "email:bob@example.com"),
    ],
)
def test_an_identity_whose_value_holds_an_at_keeps_its_kind(who: str, identity: str) -> None:
    """A chat visitor id, a SIP caller or a CRM id may hold an ``@``: they had been read as
    the address ``email:chat:kim@example.com``, so ``forget`` said "no such customer",
    exit 0, with the customer still stored."""
    assert identity_of(who) == identity
