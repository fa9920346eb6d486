"""The address rule of the web form and chat (``channels.email_address``): its quick path
for plain addresses agrees with the full check on every input it takes, and the rule is
``EmailStr``'s except that an address under ``.test`` is accepted, and so a local part
quoted or with dots in a row or at an end (as Japanese carriers issued them)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import EmailStr, TypeAdapter, ValidationError

from channels.chat import Visitor
from channels.email_address import EmailAddress, checked_email, plain_email
from channels.webform import WebForm

pytestmark = pytest.mark.unit

EMAIL_STR = TypeAdapter(EmailStr)
ADDRESS = TypeAdapter(EmailAddress)
ALPHABET = "abcXYZ019_%+-.@ \t"
TLDS = ["", ".com", ".org", ".Io", ".test", ".local", ".c", ".x1", ".xn--p1ai", ".TEST"]
KNOWN = [
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
    "ädä@example.test",
    "Ada <ada@Example.TEST>",
    "ada@sub.example.test",
    "ada@x.local",
    "ada@x.invalid",
    "ada@localhost",
    "ada@[192.0.2.1]",
]


def via(adapter: TypeAdapter[str], value: str) -> str:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        return f"invalid: {exc.errors()[0]['msg']}"


def dotted(value: str) -> bool:
    """A local part with dots in a row or at an end: ``EmailStr`` refuses it, the web form
    and chat take it as the email channel does."""
    local = value.strip().rpartition("@")[0]
    return ".." in local or local.startswith(".") or local.endswith(".")


def under_test_tld(value: str) -> bool:
    domain = value.strip().rstrip(">").rpartition("@")[2].lower()
    return domain == "test" or domain.endswith(".test")


@pytest.mark.parametrize("value", KNOWN)
def test_the_quick_path_agrees_with_the_full_check(value: str) -> None:
    quick = plain_email(value)
    if quick is not None:
        assert quick == checked_email(value.strip())


@pytest.mark.parametrize("value", KNOWN)
def test_the_rule_is_email_str_but_for_test_domains(value: str) -> None:
    ours, pydantics = via(ADDRESS, value), via(EMAIL_STR, value)
    if under_test_tld(value):
        assert "special-use" in pydantics
        assert not ours.startswith("invalid"), ours
    elif dotted(value):
        assert "period" in pydantics
        assert not ours.startswith("invalid"), ours
    else:
        assert ours == pydantics


@given(
    st.builds(
        lambda local, domain, tld: f"{local}@{domain}{tld}",
        st.text(ALPHABET, min_size=0, max_size=12),
        st.text(ALPHABET, min_size=0, max_size=12),
        st.sampled_from(TLDS),
    )
)
def test_generated_addresses_agree(value: str) -> None:
    quick = plain_email(value)
    if quick is not None:
        assert quick == checked_email(value.strip())
    if not under_test_tld(value) and not dotted(value):
        assert via(ADDRESS, value) == via(EMAIL_STR, value)


def test_only_plain_ascii_takes_the_quick_path() -> None:
    assert plain_email("ada@example.com") == "ada@example.com"
    assert plain_email("Ada@Example.COM") == "Ada@example.com"
    assert plain_email("anna@Example.TEST") == "anna@example.test"
    for other in ("ädä@example.com", "Ada <ada@example.com>", "postmaster@example.com"):
        assert plain_email(other) is None
    assert plain_email("anna@x.local") is None  # the full check refuses it


@pytest.mark.parametrize(
    "value", ["anna@example.test", "Anna@Sub.Example.TEST", "anna@example.com", "anna@docs.example"]
)
def test_the_web_form_and_chat_accept_test_and_documentation_domains(value: str) -> None:
    """``anna@example.test`` was refused ("special-use or reserved name") though the
    email channel takes mail from it."""
    local, _, domain = value.partition("@")
    expected = f"{local}@{domain.lower()}"
    assert WebForm(email=value, message="hi").email == expected
    assert Visitor(id="v1", email=value).email == expected


@pytest.mark.parametrize(
    "value", ["anna", "anna@", "anna@@example.test", "anna@localhost", "anna@[192.0.2.1]"]
)
def test_the_web_form_and_chat_refuse_what_is_no_address(value: str) -> None:
    for build in (
        lambda: WebForm(email=value, message="hi"),
        lambda: Visitor(id="v1", email=value),
    ):
        with pytest.raises(ValidationError) as caught:
            build()
        [error] = caught.value.errors()
        assert error["loc"] == ("email",)
        assert error["msg"].startswith("value is not a valid email address")
