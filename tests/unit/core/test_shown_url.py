"""A Redis URL as messages and logs show it (the dev banner, "no Redis answers at …"):
its password hidden wherever redis-py reads one from, the rest as written."""

from __future__ import annotations

import pytest

from router.redis import shown_url

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://app:hunter2@cache/1", "rediss://app:***@cache/1"),
        # the documented form for a socket: the password in the query
        ("unix:///run/valkey.sock?password=hunter2", "unix:///run/valkey.sock?password=***"),
        ("redis://cache:6379/0?db=2&password=hunter2", "redis://cache:6379/0?db=2&password=***"),
        ("redis://u:hunter2@cache/0?Password=hunter2", "redis://u:***@cache/0?Password=***"),
        ("redis://cache:6379/0?socket_timeout=5", "redis://cache:6379/0?socket_timeout=5"),
        ("redis+cluster://cache:7000", "redis+cluster://cache:7000"),
        ("rediss://cache/0?ssl_password=hunter2", "rediss://cache/0?ssl_password=***"),
        ("redis://[::1/0?password=hunter2", "redis://[::1/0?***"),  # no URL: the query hidden
        # no colon: redis-py's user name (with an empty password), often a password meant
        ("rediss://hunter2@cache:6379/0", "rediss://***@cache:6379/0"),
        ("redis+cluster://hunter2@n1:7000,n2:7000", "redis+cluster://***@n1:7000,n2:7000"),
    ],
)
def test_the_password_is_hidden_and_nothing_else_changes(url: str, shown: str) -> None:
    assert shown_url(url) == shown
    assert "hunter2" not in shown_url(url)
