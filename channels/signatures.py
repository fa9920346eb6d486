"""Webhook signatures: Twilio ``X-Twilio-Signature``, Meta ``X-Hub-Signature-256``, and
Switchboard's own shared secret for chat and voice (bearer or ``X-Switchboard-Signature``).

Pure functions over bytes and strings, so the published test vectors run without HTTP.
Every comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

DEFAULT_PORTS = {"https": 443, "http": 80}
#: What the WHATWG URL standard percent-encodes in a special URL's path and query (with
#: controls, space and non-ASCII): how twilio-node writes a URL before signing it.
PATH_ENCODED = '"<>`{} '
QUERY_ENCODED = "\"<>' "
MAX_SKEW_S = 300
TIMESTAMP_HEADER = "X-Switchboard-Timestamp"
SIGNATURE_HEADER = "X-Switchboard-Signature"
INVALID_BEARER = "invalid bearer token"
TWILIO_HEADER = "X-Twilio-Signature"
META_HEADER = "X-Hub-Signature-256"


def signature_challenge(realm: str, header: str) -> str:
    """``WWW-Authenticate`` for the 401 of a provider's webhook signature: a 401 must
    carry a challenge (RFC 9110, 15.5.2). No registered scheme names a signed-body
    header, so the scheme is ``Signature`` with auth-params (RFC 9110, 11.2) naming the
    provider (``realm``) and the header the signature goes in."""
    return f'Signature realm="{realm}", header="{header}"'


PROVIDER_CHALLENGES = {
    TWILIO_HEADER: signature_challenge("twilio", TWILIO_HEADER),
    META_HEADER: signature_challenge("meta", META_HEADER),
}
"""The challenge of each provider's signature, by the header the signature goes in."""


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """base64(HMAC-SHA1(token, url + every key+value, keys sorted, each key's values sorted
    and deduplicated)), as Twilio's own validators compute it."""
    grouped: dict[str, set[str]] = {}
    for key, value in params:
        grouped.setdefault(key, set()).add(value)
    payload = url + "".join(k + v for k in sorted(grouped) for v in sorted(grouped[k]))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _port_variants(url: str) -> list[str]:
    """The URL as given, without its port and with the scheme's default port.

    Twilio signs the URL it was configured with; a proxy may add or drop ``:443``.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    bare = urlunsplit(parts._replace(netloc=prefix + host))
    variants = [url, bare]
    default = DEFAULT_PORTS.get(parts.scheme)
    if default is not None:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}")))
    return list(dict.fromkeys(variants))


def _whatwg(url: str) -> str:
    """``url`` as the WHATWG URL standard serialises it (``new URL(url).toString()``):
    twilio-node signs that form, so ``?q=it's`` is signed as ``?q=it%27s``. Existing
    escapes are kept as they are."""
    parts = urlsplit(url)
    return urlunsplit(
        parts._replace(
            path=_encoded(parts.path, PATH_ENCODED), query=_encoded(parts.query, QUERY_ENCODED)
        )
    )


def _encoded(text: str, unsafe: str) -> str:
    return "".join(
        quote(char, safe="") if char in unsafe or not " " < char < "\x7f" else char for char in text
    )


def verify_twilio(
    auth_token: str,
    url: str,
    params: Iterable[tuple[str, str]],
    signature: str | None,
    body: bytes | None = None,
) -> bool:
    """True when ``signature`` is Twilio's for this request.

    A JSON-bodied webhook carries ``bodySHA256`` in the query string instead of form
    parameters: then the body must hash to it and the signature covers the URL alone.
    """
    if not signature:
        return False
    pairs = list(params)
    body_hash = parse_qs(urlsplit(url).query).get("bodySHA256")
    if body_hash:
        actual = hashlib.sha256(body or b"").hexdigest()
        if not hmac.compare_digest(actual, body_hash[0]):
            return False
        pairs = []
    valid = False
    # as the request came, and as twilio-node writes it: a quote in the query arrives as
    # ``'`` or ``%27``, whichever way the URL was configured
    variants = _port_variants(url)
    for candidate in dict.fromkeys([*variants, *map(_whatwg, variants)]):
        expected = twilio_signature(auth_token, candidate, pairs)
        valid |= hmac.compare_digest(expected.encode(), signature.strip().encode())
    return valid


def meta_signature(app_secret: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256 of the raw body, as Meta sends it."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_meta(app_secret: str, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    expected = meta_signature(app_secret, body)
    return hmac.compare_digest(expected.encode(), header.strip().lower().encode())


def matches_any(given: str | None, secrets: Iterable[str]) -> bool:
    """Constant-time membership: every secret is compared, whichever matches."""
    if not given:
        return False
    found = False
    for secret in secrets:
        found |= hmac.compare_digest(given.encode(), secret.encode())
    return found


def token_digest(token: str) -> str:
    """Which API token, never the token: the first 12 hex digits of its SHA-256, the same
    in an action's ``authid`` and in an ``auth_failed`` log line (``printf %s "$TOKEN" |
    sha256sum | cut -c1-12`` names it)."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def switchboard_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256(secret, ``"<timestamp>."`` + raw body)."""
    message = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def shared_secret_problem(
    secret: str,
    body: bytes,
    *,
    authorization: str | None,
    timestamp: str | None,
    signature: str | None,
    now: float,
    max_skew_s: int = MAX_SKEW_S,
) -> str | None:
    """None when the request proves it knows ``secret``; else what is wrong, in words.

    Proof is ``Authorization: Bearer <secret>`` or a signature of the body under a
    timestamp no more than ``max_skew_s`` from ``now`` (a captured request cannot be
    replayed later). The words never contain the secret or the expected signature.
    """
    scheme, _, token = (authorization or "").partition(" ")
    bearer = scheme.lower() == "bearer" and bool(token.strip())
    if bearer and matches_any(token.strip(), [secret]):
        return None
    if timestamp is None and signature is None:
        if bearer:
            return INVALID_BEARER
        return (
            f"missing credentials: send Authorization: Bearer <secret>, or "
            f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER}"
        )
    return _signature_problem(
        secret, body, timestamp=timestamp, signature=signature, now=now, max_skew_s=max_skew_s
    )


def _signature_problem(
    secret: str,
    body: bytes,
    *,
    timestamp: str | None,
    signature: str | None,
    now: float,
    max_skew_s: int,
) -> str | None:
    if not timestamp or not signature:
        present, absent = (
            (TIMESTAMP_HEADER, SIGNATURE_HEADER)
            if timestamp
            else (SIGNATURE_HEADER, TIMESTAMP_HEADER)
        )
        return f"{present} without {absent}"
    stamp = timestamp.strip()
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        return f"{TIMESTAMP_HEADER} must be Unix time in whole seconds"
    skew = abs(now - int(stamp))
    if skew > max_skew_s:
        return (
            f"{TIMESTAMP_HEADER} is {int(skew)} s away from the server's clock; "
            f"at most {max_skew_s} s is accepted (replay guard)"
        )
    given = signature.strip().lower()
    if not given.startswith("sha256="):
        return f"{SIGNATURE_HEADER} must be sha256=<hex HMAC-SHA256>"
    expected = switchboard_signature(secret, stamp, body)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        return f"{SIGNATURE_HEADER} does not match the body and timestamp"
    return None
