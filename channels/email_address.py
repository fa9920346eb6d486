"""The address rule of the channels that take an email address as a field (web form,
chat visitor): one rule, so both accept and refuse the same addresses.

It is pydantic's ``EmailStr`` (``email_validator`` on the syntax, no DNS look-up, the
``Name <addr>`` form read as ``addr``), taking a quoted local part and one with dots in a
row or at an end as the email channel does (``checked_email``), with
``email_validator``'s test environment on: an address under ``.test`` is accepted, as
one under ``.example`` or at ``example.com`` already was. Those are the names RFC 2606
and RFC 6761 reserve for testing and documentation, what integrators and test suites
write; the email channel takes mail from them (``channels.addresses``), so refusing
them here made the same customer welcome in one channel and not in another.

Still refused: what is no address (no ``@``, bad syntax, a domain without a dot such as
``localhost`` or a mistyped ``gmail``, an IP literal such as ``a@[192.0.2.1]``, which the
email channel does not read as an address either), and the other special-use names
(``.invalid``, defined to be invalid; ``.localhost`` and ``.local``, this machine and its
link; ``.onion``; ``.arpa``): no reply from an agent can reach a mailbox there. The
email channel is more lenient with those on purpose: it reads what a mail server already
delivered and can refuse nothing.
"""

from __future__ import annotations

import re
from typing import Annotated

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES
from pydantic import AfterValidator, WithJsonSchema
from pydantic.networks import pretty_email_regex
from pydantic_core import PydanticCustomError

from router.identity import ATOM_SPECIALS, normalize_email

PLAIN_EMAIL = re.compile(
    r"([A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*)"
    r"@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)
TEST_TLD = "test"
REFUSED_TLDS = frozenset(SPECIAL_USE_DOMAIN_NAMES) - {TEST_TLD}
MAILBOX_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)
LOCAL_MAX, ADDRESS_MAX = 64, 254
MAX_INPUT = 2048  # as EmailStr: longer text is refused before it is parsed


def plain_email(value: str) -> str | None:
    """The address as ``email_address`` normalises it, for the common plain ASCII form
    that ``email_validator`` accepts as is (only the domain lowercased); None for anything
    else, which ``email_address`` then judges in full. The full check (IDNA tables for
    every character of the domain) cost a fifth of a web form's processing."""
    match = PLAIN_EMAIL.fullmatch(value.strip())
    if match is None:
        return None
    local, domain = match.groups()
    domain = domain.lower()
    if (
        len(local) > LOCAL_MAX  # the RFC 5321 limits, as email_validator checks them
        or len(local) + 1 + len(domain) > ADDRESS_MAX
        or "--" in domain  # punycode and the "ab--" rule: left to the full check
        or domain.rpartition(".")[2] in REFUSED_TLDS
        or local.lower() in MAILBOX_NAMES  # "Postmaster" is lowercased
    ):
        return None
    return f"{local}@{domain}"


def _refused(reason: str) -> PydanticCustomError:
    return PydanticCustomError(
        "value_error", "value is not a valid email address: {reason}", {"reason": reason}
    )


def email_address(value: str) -> str:
    """The normalised address; a ``value_error`` worded as ``EmailStr`` words it."""
    if len(value) > MAX_INPUT:
        raise _refused(f"Length must not exceed {MAX_INPUT} characters")
    if "\r" in value or "\n" in value:
        raise _refused("Carriage return and line feed characters are not allowed")
    plain = plain_email(value)
    return plain if plain is not None else checked_email(value)


def checked_email(value: str) -> str:
    """The full check, without the quick path for plain addresses. A quoted local part is
    taken, and so dots in a row or at either end of an unquoted one, as Japanese carriers
    issued them (``taro..yamada@docomo.ne.jp``, ``hanako.@ezweb.ne.jp``): the email
    channel takes their mail, and ``normalize_email`` makes them one customer however
    written (``"taro..yamada"@`` is ``taro..yamada@``)."""
    named = pretty_email_regex.fullmatch(value)
    address = quoted_if_dotted(named.group(3) if named else value.strip())
    try:
        checked = validate_email(
            address,
            check_deliverability=False,
            test_environment=True,
            allow_quoted_local=_quoted_atoms(address),
        )
        normalized = str(checked.normalized)
        normalize_email(normalized)  # what the identity is made of must take it too
    except EmailNotValidError as exc:
        raise _refused(str(exc.args[0])) from None
    except ValueError:
        raise _refused("this address cannot name a customer") from None
    return normalized


def _quoted_atoms(address: str) -> bool:
    """Whether the local part is quoted around what needs no quotes but for its dots
    (``"taro..yamada"``), the only quoted form taken: one with a space, an ``@`` or a
    comma inside the quotes (``"john doe"@``) is refused as before, as the identity and
    ``customer.upserted`` refuse it."""
    local = address.rpartition("@")[0]
    inner = local[1:-1]
    quoted = len(local) >= 3 and local[0] == '"' and local[-1] == '"'
    return quoted and all(ch.isalnum() or ch in ATOM_SPECIALS for ch in inner)


def quoted_if_dotted(address: str) -> str:
    """``address`` with its local part quoted when only its dots (in a row, first or
    last) keep it from being an RFC 5322 dot-atom, which quoting makes it valid as."""
    local, at, domain = address.rpartition("@")
    dotted = ".." in local or local.startswith(".") or local.endswith(".")
    if at and dotted and all(ch.isalnum() or ch in ATOM_SPECIALS for ch in local):
        return f'"{local}"@{domain}'
    return address


EmailAddress = Annotated[
    str, AfterValidator(email_address), WithJsonSchema({"type": "string", "format": "email"})
]
"""A field holding a customer's email address (web form, chat visitor)."""
