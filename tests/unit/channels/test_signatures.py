"""Published signature vectors (twilio-python, pywa, GitHub docs) and a flipped byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from channels.signatures import (
    matches_any,
    meta_signature,
    shared_secret_problem,
    switchboard_signature,
    twilio_signature,
    verify_meta,
    verify_twilio,
)

pytestmark = pytest.mark.unit

WEBHOOKS = Path(__file__).resolve().parents[2] / "fixtures" / "webhooks"
VECTORS = orjson.loads((WEBHOOKS / "signature_vectors.json").read_bytes())
TWILIO = VECTORS["twilio_x_twilio_signature"]
TOKEN: str = TWILIO["auth_token"]
CASES: dict[str, dict[str, Any]] = {c["name"]: c for c in TWILIO["cases"]}
PARAMS = list(CASES["form params"]["params"].items())


def test_twilio_form_params() -> None:
    case = CASES["form params"]
    assert twilio_signature(TOKEN, case["url"], PARAMS) == case["expected_signature"]
    assert verify_twilio(TOKEN, case["url"], PARAMS, case["expected_signature"])


def test_twilio_multi_valued_params() -> None:
    case = next(c for n, c in CASES.items() if n.startswith("multi-valued"))
    pairs = [tuple(p) for p in case["params_multi"]]
    assert twilio_signature(TOKEN, CASES["form params"]["url"], pairs) == case["expected_signature"]


@pytest.mark.parametrize("prefix", ["https with explicit :443", "http with explicit :80"])
def test_twilio_default_port_variants(prefix: str) -> None:
    case = next(c for n, c in CASES.items() if n.startswith(prefix))
    assert twilio_signature(TOKEN, case["signed_url"], PARAMS) == case["expected_signature"]
    assert verify_twilio(TOKEN, case["request_url"], PARAMS, case["expected_signature"])


def test_twilio_non_default_port() -> None:
    case = next(c for n, c in CASES.items() if n.startswith("http with non-default"))
    assert verify_twilio(TOKEN, case["signed_url"], PARAMS, case["expected_signature"])
    stripped = next(c for n, c in CASES.items() if n.startswith("https request arriving"))
    assert verify_twilio(TOKEN, stripped["request_url"], PARAMS, stripped["expected_signature"])


def test_twilio_json_body_sha256() -> None:
    case = next(c for n, c in CASES.items() if n.startswith("JSON body"))
    body = case["body"].encode()
    assert verify_twilio(TOKEN, case["url"], [], case["expected_signature"], body)
    assert not verify_twilio(TOKEN, case["url"], [], case["expected_signature"], body + b" ")


def test_twilio_changed_byte_fails() -> None:
    case = CASES["form params"]
    sig = case["expected_signature"]
    changed = [(k, v + "0" if k == "Digits" else v) for k, v in PARAMS]
    assert not verify_twilio(TOKEN, case["url"], changed, sig)
    assert not verify_twilio(TOKEN, case["url"] + "x", PARAMS, sig)
    assert not verify_twilio(TOKEN + "x", case["url"], PARAMS, sig)
    assert not verify_twilio(TOKEN, case["url"], PARAMS, None)
    assert not verify_twilio(TOKEN, case["url"], PARAMS, "")


#: twilio-node's request-validation spec (spec/unit/webhooks/webhooks.spec.js at 17d127b7,
#: MIT): it signs a URL as ``new URL(url).toString()`` writes it, so a quote in the
#: query is signed as ``%27``, and its validator takes the request either way.
NODE_SIGNED = "https://example.com/path?test=param%27WithQuote"


@pytest.mark.parametrize(
    "request_url",
    [
        "https://example.com/path?test=param'WithQuote",
        "https://example.com/path?test=param%27WithQuote",
        "https://example.com:443/path?test=param'WithQuote",
    ],
)
def test_twilio_a_quote_in_the_query_verifies_escaped_or_not(request_url: str) -> None:
    signature = twilio_signature("s3cr3t", NODE_SIGNED, [])
    assert verify_twilio("s3cr3t", request_url, [], signature)
    assert not verify_twilio("s3cr3t", request_url.replace("param", "param2"), [], signature)


def test_twilio_a_signature_over_the_raw_quote_still_verifies() -> None:
    """twilio-python signs the URL as given, unescaped."""
    raw = "https://example.com/path?test=param'WithQuote"
    assert verify_twilio("s3cr3t", raw, [], twilio_signature("s3cr3t", raw, []))


def test_meta_vector_and_a_changed_byte() -> None:
    meta = VECTORS["meta_x_hub_signature_256"]
    body = (WEBHOOKS / "meta-whatsapp-cloud/signed_body_x_hub_signature_256.json").read_bytes()
    assert len(body) == 511
    assert meta_signature(meta["app_secret"], body) == meta["expected_header"]
    assert verify_meta(meta["app_secret"], body, meta["expected_header"])
    flipped = bytes([body[0] ^ 1]) + body[1:]
    assert not verify_meta(meta["app_secret"], flipped, meta["expected_header"])
    assert not verify_meta(meta["app_secret"], body, None)
    assert not verify_meta(meta["app_secret"], body, meta["expected_header"][:-1])


def test_github_same_scheme_vector() -> None:
    gh = VECTORS["same_scheme_public_vector_github"]
    assert meta_signature(gh["secret"], gh["payload"].encode()) == gh["expected_header"]


def test_matches_any() -> None:
    assert matches_any("b", ["a", "b"])
    assert not matches_any("c", ["a", "b"])
    assert not matches_any("", ["", "a"])
    assert not matches_any(None, ["a"])


SECRET = "whsec-test"
STAMP = 1767225600
BODY = b'{"conversation_id":"c-1","visitor":{"id":"v-7"},"text":"hello"}'
# printf '%s.%s' 1767225600 "$BODY" | openssl dgst -sha256 -hmac whsec-test -r
OPENSSL = "sha256=f77a3ffe83a5fa26d28fbd45e66d4e688a4394287fb5bc8bdef73f07eadddb71"


def check(
    *,
    authorization: str | None = None,
    timestamp: str | None = None,
    signature: str | None = None,
    body: bytes = BODY,
    now: float = STAMP + 10,
) -> str | None:
    return shared_secret_problem(
        SECRET,
        body,
        authorization=authorization,
        timestamp=timestamp,
        signature=signature,
        now=now,
    )


def test_switchboard_signature_matches_openssl() -> None:
    assert switchboard_signature(SECRET, str(STAMP), BODY) == OPENSSL


def test_shared_secret_accepts_the_bearer_or_a_fresh_signature() -> None:
    assert check(authorization=f"Bearer {SECRET}") is None
    assert check(authorization=f"bearer  {SECRET} ") is None
    assert check(timestamp=str(STAMP), signature=OPENSSL) is None
    assert (
        check(timestamp=str(STAMP), signature=OPENSSL.upper().replace("SHA256", "sha256")) is None
    )
    assert check(timestamp=str(STAMP), signature=OPENSSL, now=STAMP - 300) is None
    # a wrong bearer does not spoil a good signature (proxies add their own Authorization)
    assert check(authorization="Bearer other", timestamp=str(STAMP), signature=OPENSSL) is None


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({}, "missing credentials"),
        ({"authorization": "Basic " + SECRET}, "missing credentials"),
        ({"authorization": "Bearer " + SECRET[:-1]}, "invalid bearer token"),
        ({"timestamp": str(STAMP)}, "X-Switchboard-Timestamp without X-Switchboard-Signature"),
        ({"signature": OPENSSL}, "X-Switchboard-Signature without X-Switchboard-Timestamp"),
        ({"timestamp": "2026-01-01T00:00:00Z", "signature": OPENSSL}, "Unix time"),
        ({"timestamp": "1e9", "signature": OPENSSL}, "Unix time"),
        ({"timestamp": str(STAMP), "signature": OPENSSL[7:]}, "must be sha256="),
        ({"timestamp": str(STAMP), "signature": OPENSSL[:-1] + "0"}, "does not match"),
        ({"timestamp": str(STAMP + 1), "signature": OPENSSL}, "does not match"),
        ({"timestamp": str(STAMP), "signature": OPENSSL, "body": BODY + b" "}, "does not match"),
        ({"timestamp": str(STAMP), "signature": OPENSSL, "now": STAMP + 301}, "301 s away"),
        ({"timestamp": str(STAMP), "signature": OPENSSL, "now": STAMP - 3600}, "3600 s away"),
    ],
)
def test_shared_secret_says_what_is_wrong_and_never_the_secret(
    given: dict[str, Any], says: str
) -> None:
    problem = check(**given)
    assert problem is not None
    assert says in problem
    assert SECRET not in problem
    assert OPENSSL[7:] not in problem
