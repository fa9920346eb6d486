"""Settings an operator can get wrong are refused at load, naming the variable; the
pseudonymized export names nothing that leads back to a person; explain rejects typos."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord

from router.app.export import Pseudonyms, export_line
from router.errors import ConfigError
from router.kafka import client_options
from router.settings import KafkaSettings, load_settings
from rules.replay import unknown_facts

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "rules" / "examples"


def refused(monkeypatch: pytest.MonkeyPatch, **env: str) -> ConfigError:
    for name, value in env.items():
        monkeypatch.setenv(f"SWITCHBOARD_{name}", value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    return info.value


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "SWITCHBOARD_KAFKA_SASL_USERNAME"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "svc"},
            "SWITCHBOARD_KAFKA_SASL_PASSWORD",
        ),
        (
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                "KAFKA_SASL_PASSWORD": "pw",
                "KAFKA_SASL_USERNAME": " ",
            },
            "SWITCHBOARD_KAFKA_SASL_USERNAME",
        ),
    ],
)
def test_sasl_without_its_credentials_is_refused_naming_the_missing_one(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], setting: str
) -> None:
    problem = refused(monkeypatch, **env)
    assert problem.setting == setting
    assert "required with SWITCHBOARD_KAFKA_SECURITY_PROTOCOL=SASL_" in problem.message


def test_sasl_with_credentials_reaches_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS", "k:9092")
    monkeypatch.setenv("SWITCHBOARD_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("SWITCHBOARD_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("SWITCHBOARD_KAFKA_SASL_PASSWORD", "pw")
    opts = client_options(load_settings().kafka)
    assert (opts["sasl_plain_username"], opts["sasl_plain_password"]) == ("svc", "pw")


@pytest.mark.parametrize(
    ("env", "setting", "says"),
    [
        (
            {"KAFKA_SSL_CAFILE": "/etc/ssl/ca.pem"},
            "SWITCHBOARD_KAFKA_SSL_CAFILE",
            "PROTOCOL=PLAINTEXT (no TLS): set it to SSL or SASL_SSL, or unset this one",
        ),
        (
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "KAFKA_SASL_USERNAME": "svc",
                "KAFKA_SASL_PASSWORD": "pw",
                "KAFKA_SSL_CERTFILE": "/etc/ssl/client.pem",
            },
            "SWITCHBOARD_KAFKA_SSL_CERTFILE",
            "PROTOCOL=SASL_PLAINTEXT (no TLS): set it to SASL_SSL, or unset this one",
        ),
        (
            {"KAFKA_SSL_KEYFILE": "/etc/ssl/client.key"},
            "SWITCHBOARD_KAFKA_SSL_KEYFILE",
            "(no TLS)",
        ),
        (
            {"KAFKA_SASL_USERNAME": "svc"},
            "SWITCHBOARD_KAFKA_SASL_USERNAME",
            "PROTOCOL=PLAINTEXT (no SASL): set it to SASL_SSL or SASL_PLAINTEXT",
        ),
        ({"KAFKA_SASL_PASSWORD": "pw"}, "SWITCHBOARD_KAFKA_SASL_PASSWORD", "(no SASL)"),
        (
            {"KAFKA_SASL_MECHANISM": "scram-sha-256"},
            "SWITCHBOARD_KAFKA_SASL_MECHANISM",
            "PROTOCOL=PLAINTEXT (no SASL): set it to SASL_SSL or SASL_PLAINTEXT",
        ),
        (
            {"REDIS_URL": "redis://cache:6379/0", "REDIS_SSL_CA_CERTS": "/etc/ssl/ca.pem"},
            "SWITCHBOARD_REDIS_SSL_CA_CERTS",
            "ignored with a redis:// SWITCHBOARD_REDIS_URL (no TLS): use rediss://",
        ),
        (
            {"REDIS_URL": "redis+cluster://n1:7000", "REDIS_SSL_CERTFILE": "/etc/ssl/c.pem"},
            "SWITCHBOARD_REDIS_SSL_CERTFILE",
            "ignored with a redis+cluster:// SWITCHBOARD_REDIS_URL",
        ),
        (
            {"REDIS_URL": "unix:///run/redis.sock", "REDIS_SSL_KEYFILE": "/etc/ssl/c.key"},
            "SWITCHBOARD_REDIS_SSL_KEYFILE",
            "(no TLS)",
        ),
    ],
)
def test_tls_or_sasl_settings_the_protocol_would_ignore_are_refused(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], setting: str, says: str
) -> None:
    """An operator who set a CA file but not the protocol believed the traffic encrypted:
    the setting was silently ignored."""
    problem = refused(monkeypatch, **env)
    assert problem.setting == setting
    assert says in problem.message


@pytest.mark.parametrize(
    "env",
    [
        {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/etc/ssl/ca.pem"},
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_USERNAME": "svc",
            "KAFKA_SASL_PASSWORD": "pw",
            "KAFKA_SSL_CAFILE": "/etc/ssl/ca.pem",
        },
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "svc",
            "KAFKA_SASL_PASSWORD": "pw",
        },
        {"REDIS_URL": "rediss://cache:6380/0", "REDIS_SSL_CA_CERTS": "/etc/ssl/ca.pem"},
        {"REDIS_URL": "rediss+cluster://n1:7000", "REDIS_SSL_CERTFILE": "/etc/ssl/c.pem"},
        {"REDIS_SSL_CA_CERTS": "/etc/ssl/ca.pem"},  # no URL: `run` names the URL itself
    ],
)
def test_tls_and_sasl_settings_their_protocol_uses_are_accepted(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"SWITCHBOARD_{name}", value)
    load_settings()


def test_client_options_of_unvalidated_sasl_settings_name_the_setting() -> None:
    """Settings copied without validation must not reach the client's ValueError."""
    kafka = KafkaSettings(bootstrap_servers="k:9092").model_copy(
        update={"security_protocol": "SASL_PLAINTEXT", "sasl_username": "svc"}
    )
    with pytest.raises(ConfigError) as info:
        client_options(kafka)
    assert info.value.setting == "SWITCHBOARD_KAFKA_SASL_PASSWORD"


def test_a_templates_path_that_is_no_directory_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    problem = refused(monkeypatch, TEMPLATES_PATH=str(tmp_path / "missing"))
    assert problem.setting == "SWITCHBOARD_TEMPLATES_PATH"
    assert "does not exist" in problem.message
    (tmp_path / "file").write_text("x")
    problem = refused(monkeypatch, TEMPLATES_PATH=str(tmp_path / "file"))
    assert "is not a directory" in problem.message
    monkeypatch.setenv("SWITCHBOARD_TEMPLATES_PATH", str(tmp_path))
    assert load_settings().templates_path == tmp_path


def test_the_smallest_record_size_works_with_the_smallest_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA_MAX_RECORD_BYTES", "73728")
    monkeypatch.setenv("SWITCHBOARD_MAX_TEXT_BYTES", "1024")
    assert load_settings().limits().record_bytes == 73728


def test_a_record_size_below_what_any_text_fits_names_the_record_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = refused(monkeypatch, KAFKA_MAX_RECORD_BYTES="65536", MAX_TEXT_BYTES="1024")
    assert problem.setting == "SWITCHBOARD_KAFKA_MAX_RECORD_BYTES"


def test_a_lower_record_size_says_the_text_size_must_come_down_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = refused(monkeypatch, KAFKA_MAX_RECORD_BYTES="262144")
    assert problem.setting == "SWITCHBOARD_MAX_TEXT_BYTES"
    assert "at most 24576" in problem.message
    assert "lowering this one too" in problem.message


def envelope(event_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/v1/channels/email",
        "type": "switchboard.interaction.received",
        "subject": "email:ada@customer.example",
        "time": "2026-11-24T09:00:00Z",
        "data": {
            "channel": "email",
            "customer": {"email": "ada@customer.example", "name": "Ada Lovelace"},
            "text": "hello",
        },
        **extra,
    }


def test_pseudonymized_envelope_replaces_the_event_id_the_same_way_every_time() -> None:
    """The id is the key to the original in ``tickets`` and Redis; duplicates (the same
    id twice) must stay duplicates for a simulation to dedupe them as the router does."""
    names = Pseudonyms(b"salt")
    first = names.envelope(envelope("9b7c6f30-0000-5000-8000-000000000001"))
    again = names.envelope(envelope("9b7c6f30-0000-5000-8000-000000000001"))
    other = names.envelope(envelope("9b7c6f30-0000-5000-8000-000000000002"))
    assert first["id"] != "9b7c6f30-0000-5000-8000-000000000001"
    assert first["id"] == again["id"] != other["id"]
    assert (
        Pseudonyms(b"other salt").envelope(envelope("9b7c6f30-0000-5000-8000-000000000001"))["id"]
        != first["id"]
    )
    assert first["source"] == "/v1/channels/email"  # a channel path names nobody


def test_pseudonymized_envelope_scrubs_the_source_and_extension_attributes() -> None:
    event = envelope(
        "e-1",
        source="mailto:ada@customer.example",
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        crmcontact="ada.lovelace",
    )
    event["data"]["customer"]["handles"] = {"chat": "ada.lovelace"}
    text = orjson.dumps(Pseudonyms(b"salt").envelope(event)).decode()
    for clear in ("ada@customer.example", "4bf92f3577b34da6", "ada.lovelace", "e-1"):
        assert clear not in text


def record(value: bytes, timestamp: int = 1_795_000_000_000) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        "inbound", 0, 0, timestamp, 0, b"email:a@b.example", value, None, 0, len(value), ()
    )


def test_export_leaves_out_what_the_router_dead_letters() -> None:
    valid = envelope("e-1")
    no_customer = {**envelope("e-2"), "data": {"channel": "email", "text": "x", "customer": 7}}
    wrong_type = {**envelope("e-3"), "type": "switchboard.ticket.created"}
    assert export_line(record(orjson.dumps(valid)), None) is not None
    assert export_line(record(orjson.dumps(no_customer)), None) is None
    assert export_line(record(orjson.dumps(wrong_type)), None) is None
    assert export_line(record(b"not json"), None) is None


def test_unknown_facts_of_plain_facts_carry_a_hint_and_envelopes_are_not_checked() -> None:
    assert unknown_facts({"chanel": "email"}) == [
        "unknown fact 'chanel' in the event (hint: did you mean 'channel'?)"
    ]
    assert unknown_facts({"channel": "email", "ticket": {"stauts": "open"}}) == [
        "unknown ticket field 'stauts' (hint: did you mean 'status'?)"
    ]
    assert unknown_facts(envelope("e-1", chanel="x")) == []


def rules_cli(
    *args: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rules.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
        env=env,
    )


def test_explain_rejects_a_misspelt_fact_like_rules_test(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"chanel": "email", "subject": "invoice"}))
    result = rules_cli("explain", EXAMPLES, event)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "unknown fact 'chanel'" in result.stderr
    assert "did you mean 'channel'?" in result.stderr


def test_rules_check_reads_the_templates_from_the_setting_the_notifier_reads(
    tmp_path: Path,
) -> None:
    """``--templates`` defaults to SWITCHBOARD_TEMPLATES_PATH, as its help says."""
    rules = tmp_path / "rules.yaml"
    rules.write_bytes((EXAMPLES / "rules.yaml").read_bytes())  # no templates/ beside it
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    alone = rules_cli("check", rules, env=env)
    assert "warning: notify target" in alone.stdout
    env["SWITCHBOARD_TEMPLATES_PATH"] = str(EXAMPLES / "templates")
    with_setting = rules_cli("check", rules, env=env)
    assert with_setting.returncode == 0, with_setting.stdout + with_setting.stderr
    assert "warning" not in with_setting.stdout
