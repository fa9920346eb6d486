"""Inline OpenPGP in a text body: a cleartext-signed block (RFC 4880 §7) is read as the
text that was signed; an encrypted block is recognised, and left as it is.

A cleartext signature wraps the writer's words: an armor line, ``Hash:`` header lines,
a blank line, the text with every line that starts with ``-`` escaped as ``- -``, then
the signature block. Read as it came, the armor and the signature were the customer's
text and the escaping stayed, so a ``format=flowed`` signature separator (``- -- ``) was
joined into the next line. Only a well-formed block is unwrapped: a customer who pastes
an armor line without its signature keeps every word they wrote.
"""

from __future__ import annotations

import re

SIGNED_BEGIN = "-----BEGIN PGP SIGNED MESSAGE-----"
SIGNATURE_BEGIN = "-----BEGIN PGP SIGNATURE-----"
SIGNATURE_END = "-----END PGP SIGNATURE-----"
ENCRYPTED_BEGIN = "-----BEGIN PGP MESSAGE-----"
ENCRYPTED_END = "-----END PGP MESSAGE-----"
ENCRYPTED = "text: an OpenPGP-encrypted block, not readable"
#: An armor header line (``Hash: SHA256``, ``Version: GnuPG v2``, RFC 4880 §6.2).
ARMOR_HEADER = re.compile(r"[A-Za-z][A-Za-z0-9-]*: \S.*")
#: A line of the signature's radix-64 data, or its ``=XXXX`` checksum.
RADIX64 = re.compile(r"[A-Za-z0-9+/]+={0,2}|=[A-Za-z0-9+/]{4}")


def _armor(line: str) -> str:
    return line.rstrip(" \t\r")


def read_signed(text: str) -> str:
    """``text`` with each well-formed cleartext-signed block replaced by the text it
    signed (dash-escaping undone); what is before and after a block stays, and so does
    a block that is not well-formed."""
    if SIGNED_BEGIN not in text:
        return text
    lines = text.replace("\r\n", "\n").split("\n")
    out: list[str] = []
    at = 0
    while at < len(lines):
        if _armor(lines[at]) == SIGNED_BEGIN:
            found = _signed_block(lines, at)
            if found is not None:
                signed, at = found
                out.extend(signed)
                continue
        out.append(lines[at])
        at += 1
    return "\n".join(out)


def _signed_block(lines: list[str], begin: int) -> tuple[list[str], int] | None:
    """The signed text of the block whose armor line is ``lines[begin]``, and the index
    of the line after its signature; None when the block is not well-formed."""
    at = begin + 1
    while at < len(lines) and ARMOR_HEADER.fullmatch(_armor(lines[at])):
        at += 1
    if at >= len(lines) or _armor(lines[at]):
        return None  # the blank line after the headers is required
    signed: list[str] = []
    at += 1
    while at < len(lines) and _armor(lines[at]) != SIGNATURE_BEGIN:
        line = lines[at]
        if line.startswith("- "):
            line = line[2:]
        elif line.startswith("-"):
            return None  # an unescaped dash line: no signer wrote this
        signed.append(line)
        at += 1
    end = _signature_end(lines, at)
    if end is None:
        return None
    return signed, end


def _signature_end(lines: list[str], begin: int) -> int | None:
    """The index after the ``END PGP SIGNATURE`` line of a signature block starting at
    ``lines[begin]``: optional armor headers, an optional blank line, radix-64 lines."""
    if begin >= len(lines):
        return None
    at = begin + 1
    while at < len(lines) and ARMOR_HEADER.fullmatch(_armor(lines[at])):
        at += 1
    if at < len(lines) and not _armor(lines[at]):
        at += 1
    data = 0
    while at < len(lines) and RADIX64.fullmatch(_armor(lines[at])):
        data += 1
        at += 1
    if data == 0 or at >= len(lines) or _armor(lines[at]) != SIGNATURE_END:
        return None
    return at + 1


def has_encrypted_block(text: str) -> bool:
    """Whether ``text`` holds an armored encrypted message (nothing in it is readable)."""
    if ENCRYPTED_BEGIN not in text:
        return False
    lines = [_armor(line) for line in text.replace("\r\n", "\n").split("\n")]
    try:
        begin = lines.index(ENCRYPTED_BEGIN)
    except ValueError:
        return False
    return ENCRYPTED_END in lines[begin + 1 :]
