"""Webhook signatures: Twilio ``X-Twilio-Signature`` and Meta ``X-Hub-Signature-256``.

Pure functions over bytes and strings, so the published test vectors run without HTTP.
Every comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit, urlunsplit

DEFAULT_PORTS = {"https": 443, "http": 80}


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
    for candidate in _port_variants(url):
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
