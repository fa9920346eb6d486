"""How settings are spelled: a misspelled ``SWITCHBOARD_*`` name is found with the name
that was meant, and the values of the choice settings are read in any case."""

from __future__ import annotations

import os

import pytest

from router.errors import ConfigError
from router.settings import load_settings, setting_names, unknown_settings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def no_switchboard_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.upper().startswith("SWITCHBOARD_"):
            monkeypatch.delenv(name)


def test_a_misspelled_nested_setting_is_found_with_the_one_meant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA_REPLICATION", "3")
    assert load_settings().kafka.replication_factor == 1  # what the typo did, silently
    assert unknown_settings(os.environ) == [
        ("SWITCHBOARD_KAFKA_REPLICATION", "SWITCHBOARD_KAFKA_REPLICATION_FACTOR")
    ]


def test_every_name_the_settings_read_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("SWITCHBOARD_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("switchboard_log_level", "debug")  # read whatever its case
    settings = load_settings()
    assert settings.kafka.replication_factor == 3
    assert settings.log_level == "debug"
    assert unknown_settings(os.environ) == []
    environ = dict.fromkeys(setting_names(), "x")
    assert unknown_settings(environ) == []
    assert {"SWITCHBOARD_KAFKA", "SWITCHBOARD_REDIS_SOCKET_TIMEOUT_S"} <= setting_names()


def test_each_unknown_name_is_listed_once_in_order_with_its_closest_setting() -> None:
    environ = {
        "SWITCHBOARD_REDIS_URI": "redis://x",
        "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": "k:9092",  # a double underscore
        "SWITCHBOARD_LOGLEVEL": "info",
        "SWITCHBOARD_ZZZ_QQQQQ": "1",  # another tool's, like nothing of ours
        "SWITCHBOARD_MAX_BODY_BYTES": "2048",
        "PATH": "/usr/bin",
    }
    assert unknown_settings(environ) == [
        ("SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS", "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS"),
        ("SWITCHBOARD_LOGLEVEL", "SWITCHBOARD_LOG_LEVEL"),
        ("SWITCHBOARD_REDIS_URI", "SWITCHBOARD_REDIS_URL"),
        ("SWITCHBOARD_ZZZ_QQQQQ", None),
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SWITCHBOARD_LOG_LEVEL", "INFO"),
        ("SWITCHBOARD_LOG_LEVEL", " Warning "),
        ("SWITCHBOARD_LOG_FORMAT", "JSON"),
        ("SWITCHBOARD_LOG_FORMAT", "Console"),
        ("SWITCHBOARD_KAFKA_SECURITY_PROTOCOL", "ssl"),
        ("SWITCHBOARD_KAFKA_SECURITY_PROTOCOL", "Sasl_Ssl"),
        ("SWITCHBOARD_KAFKA_SASL_MECHANISM", "scram-sha-512"),
    ],
)
def test_choices_are_read_in_any_case(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    if name == "SWITCHBOARD_KAFKA_SASL_MECHANISM":
        monkeypatch.setenv("SWITCHBOARD_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    if "SASL" in value.upper() or name == "SWITCHBOARD_KAFKA_SASL_MECHANISM":
        monkeypatch.setenv("SWITCHBOARD_KAFKA_SASL_USERNAME", "svc")
        monkeypatch.setenv("SWITCHBOARD_KAFKA_SASL_PASSWORD", "secret")
    monkeypatch.setenv(name, value)
    settings = load_settings()
    read = {
        "SWITCHBOARD_LOG_LEVEL": settings.log_level,
        "SWITCHBOARD_LOG_FORMAT": settings.log_format,
        "SWITCHBOARD_KAFKA_SECURITY_PROTOCOL": settings.kafka.security_protocol,
        "SWITCHBOARD_KAFKA_SASL_MECHANISM": settings.kafka.sasl_mechanism,
    }[name]
    wanted = value.strip().upper() if "KAFKA" in name else value.strip().lower()
    assert read == wanted


def test_a_choice_that_is_none_in_any_case_still_names_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWITCHBOARD_LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert refused.value.setting == "SWITCHBOARD_LOG_LEVEL"
