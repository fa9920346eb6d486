"""The web form's quick path for plain addresses agrees with ``EmailStr`` on every input
it takes, and leaves the rest to it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import EmailStr, TypeAdapter, ValidationError

from channels.webform import WebForm, plain_email

pytestmark = pytest.mark.unit

EMAIL = TypeAdapter(EmailStr)
ALPHABET = "abcXYZ019_%+-.@ \t"
TLDS = ["", ".com", ".org", ".Io", ".test", ".local", ".c", ".x1", ".xn--p1ai"]


def full(value: str) -> str:
    try:
        return EMAIL.validate_python(value.strip())
    except ValidationError as exc:
        return f"invalid: {exc.errors()[0]['msg']}"


def quick(value: str) -> str:
    try:
        return WebForm(email=value, message="hi").email
    except ValidationError as exc:
        return f"invalid: {exc.errors()[0]['msg']}"


@pytest.mark.parametrize(
    "value",
    [
        "ada@example.com",
        "Ada.Lovelace+tag@Example.COM",
        " ada@example.com\t",
        "Postmaster@example.com",
        "ada@localhost.test",
        "ada@xn--bcher-kva.com",
        "ab--c@ex--ample.com",
        "ada@1.23",
        ".ada@example.com",
        "ada..b@example.com",
        "ada@-example.com",
        "x" * 65 + "@example.com",
        "a@" + ("b" * 60 + ".") * 4 + "com",
        "Ada <ada@example.com>",
        "ädä@example.com",
    ],
)
def test_known_cases_agree(value: str) -> None:
    assert quick(value) == full(value)


@given(
    st.builds(
        lambda local, domain, tld: f"{local}@{domain}{tld}",
        st.text(ALPHABET, min_size=0, max_size=12),
        st.text(ALPHABET, min_size=0, max_size=12),
        st.sampled_from(TLDS),
    )
)
def test_generated_addresses_agree(value: str) -> None:
    assert quick(value) == full(value)


def test_only_plain_ascii_takes_the_quick_path() -> None:
    assert plain_email("ada@example.com") == "ada@example.com"
    assert plain_email("Ada@Example.COM") == "Ada@example.com"
    for other in ("ädä@example.com", "Ada <ada@example.com>", "postmaster@example.com"):
        assert plain_email(other) is None
