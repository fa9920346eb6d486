from __future__ import annotations

import pytest

from router.errors import ConfigError
from router.settings import Settings, load_settings

pytestmark = pytest.mark.unit


def test_flat_contract_names_fill_nested_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("SWITCHBOARD_REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("SWITCHBOARD_KAFKA_SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("SWITCHBOARD_TOPIC_PREFIX", "acme")
    s = load_settings()
    assert s.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert s.redis.url == "redis://cache:6379/2"
    assert s.topic_prefix == "acme"
    assert "hunter2" not in repr(s)
    assert s.kafka.sasl_password is not None
    assert s.kafka.sasl_password.get_secret_value() == "hunter2"


def test_defaults_are_the_documented_ones() -> None:
    s = Settings()
    assert s.topic_prefix == "switchboard"
    assert s.kafka.bootstrap_servers is None
    assert s.log_format == "json"
    assert s.http_port == 8080


def test_bad_value_names_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_HTTP_PORT", "not-a-port")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.setting == "SWITCHBOARD_HTTP_PORT"


def test_nested_bad_value_names_the_flat_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA_FETCH_MAX_WAIT_MS", "-5")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.setting == "SWITCHBOARD_KAFKA_FETCH_MAX_WAIT_MS"


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValueError, match="frozen"):
        s.topic_prefix = "other"  # type: ignore[misc]


def test_api_tokens_are_a_comma_separated_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_API_TOKENS", "a, b,,c")
    assert load_settings().tokens() == {"a", "b", "c"}
