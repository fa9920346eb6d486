"""Published signature vectors (twilio-python, pywa, GitHub docs) and a flipped byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from channels.signatures import (
    matches_any,
    meta_signature,
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
