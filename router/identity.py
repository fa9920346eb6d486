"""Customer identity normalisation: one spelling per email address and phone number.

Pure functions, used by every adapter and by the router when it merges identities, so
that ``Alice@Example.COM`` and ``alice@example.com`` (or ``whatsapp:+1 555 123 4567`` and
``+15551234567``) are the same customer everywhere.
"""

from __future__ import annotations

import re
import unicodedata

import idna
import phonenumbers

PHONE_PREFIXES = ("whatsapp:", "tel:", "sms:", "mms:", "voice:")
SPACE = re.compile(r"\s")
"""Any character ``str.isspace`` calls whitespace (the same Unicode table), found in C."""


def normalize_email(raw: str) -> str:
    """Lowercased, trimmed, ``mailto:`` and angle brackets removed, IDN domain as ASCII.

    The local part is case-sensitive in theory, but no mail system a customer uses treats
    it so, and one customer must map to one key. Raises ValueError when it is no address.
    """
    text = unicodedata.normalize("NFC", raw).strip().strip("<>").strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    local, at, domain = text.rpartition("@")
    local = _unquoted(local)
    if not at or not local or not domain or SPACE.search(text):
        raise ValueError(f"not an email address: {raw!r}")
    if not domain.isascii():  # an ASCII domain is its own ASCII form (A-labels included)
        domain = ascii_domain(domain)
    return f"{local}@{domain}".lower()


#: What a local part may hold unquoted besides letters and digits (RFC 5322's atext and
#: the dot; consecutive dots too, as Japanese carriers issued them: ``taro..yamada``).
ATOM_SPECIALS = frozenset("!#$%&'*+-/=?^_`{|}~.")


def _unquoted(local: str) -> str:
    """A quoted local part that needs no quotes, without them: ``"john.smith"`` is
    ``john.smith`` and ``"taro..yamada"`` (as mailers quote a Japanese carrier's dotted
    address) ``taro..yamada``, one customer however the mailer wrote it. Others (with a
    space, ``"bob smith"``) stay as written."""
    if len(local) < 3 or local[0] != '"' or local[-1] != '"':  # two quotes, one character
        return local
    inner = local[1:-1]
    if all(ch.isalnum() or ch in ATOM_SPECIALS for ch in inner):
        return inner
    return local


def ascii_domain(domain: str) -> str:
    """An internationalised domain as its ASCII (A-label) form by IDNA 2008 with UTS 46
    mapping, as mail systems and registries use it. Python's ``idna`` codec is IDNA
    2003, which maps ``ß`` to ``ss`` and a final sigma to a medial one, and drops
    joiners: ``straße.de`` and ``strasse.de``, two domains of two owners, would be one
    customer, and a reply to one would go to the other. A name IDNA 2008 refuses (a
    symbol or an emoji label, ``i❤.ws``) keeps the A-labels of IDNA 2003, which
    registries of such names issued and earlier versions stored; one neither takes
    stays as written, lowercased, so every channel still gives it one spelling."""
    try:
        return idna.encode(domain, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        pass
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain.lower()


def normalize_phone(raw: str, default_region: str | None = None) -> str:
    """E.164 (``+15551234567``). Provider prefixes (``whatsapp:``, ``tel:``) are dropped.

    Without a default region a number lacking ``+`` is read as international, which is
    how WhatsApp and Meta spell numbers (``15551234567``). Raises ValueError when the text
    is not a possible phone number (short codes and alphanumeric senders are not).
    """
    text = raw.strip()
    lowered = text.lower()
    for prefix in PHONE_PREFIXES:
        if lowered.startswith(prefix):
            text = text[len(prefix) :].strip()
            break
    if not text or not any(ch.isdigit() for ch in text):
        raise ValueError(f"not a phone number: {raw!r}")
    if default_region is None and not text.startswith("+"):
        text = "+" + (text[2:] if text.startswith("00") else text)
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {raw!r} ({exc})") from None
    if not phonenumbers.is_possible_number(number):
        number = _mexican_mobile(number)
    number = _brazilian_mobile(number)
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"not a possible phone number: {raw!r}")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _brazilian_mobile(number: phonenumbers.PhoneNumber) -> phonenumbers.PhoneNumber:
    """``+55 41 8888 7777`` as ``+55 41 9 8888 7777``. Brazil gave every mobile number a
    leading ``9`` (2012 to 2016); an 8-digit number after the area code that starts with
    6 to 9 is such a mobile in the old form (fixed lines start with 2 to 5). WhatsApp
    still writes the old form for older accounts (``wa_id`` ``554188887777``), so without
    this the customer who also texts or calls from ``+5541988887777`` would be two."""
    national = str(number.national_number)
    if number.country_code != 55 or len(national) != 10 or national[2] not in "6789":
        return number
    mobile = int(national[:2] + "9" + national[2:])
    return phonenumbers.PhoneNumber(country_code=55, national_number=mobile)


def _mexican_mobile(number: phonenumbers.PhoneNumber) -> phonenumbers.PhoneNumber:
    """``+52 1 55 1234 5678`` as ``+52 55 1234 5678``. Mexico dropped the ``1`` that marked
    a mobile number in 2019, and both spellings ring the same phone; WhatsApp still
    writes the old one (``wa_id`` ``5215512345678``), so without this the customer who
    also texts or calls from ``+525512345678`` would be two customers."""
    national = str(number.national_number)
    if number.country_code != 52 or len(national) != 11 or not national.startswith("1"):
        return number
    return phonenumbers.PhoneNumber(country_code=52, national_number=int(national[1:]))
