"""The README's ingress examples work as printed: every file a curl line posts with
``@path`` exists, and the ingress takes it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from router.settings import Settings
from tests.component.channels.support import client_for

pytestmark = pytest.mark.component

ROOT = Path(__file__).resolve().parents[3]
POSTED = re.compile(
    r"curl -X POST localhost:8080(?P<path>/\S+) -H 'content-type: (?P<type>[^']+)' "
    r"(?:--data-binary|-d) @(?P<file>\S+)"
)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(settings) as c:
        yield c


def examples() -> list[tuple[str, str, Path]]:
    found = POSTED.finditer((ROOT / "README.md").read_text())
    return [(m["path"], m["type"], ROOT / m["file"]) for m in found]


def test_the_readme_posts_example_files() -> None:
    assert {path for path, _, _ in examples()} >= {"/v1/channels/email", "/v1/channels/messenger"}


async def test_every_file_the_readme_posts_is_taken_by_the_ingress(
    client: httpx.AsyncClient,
) -> None:
    for path, content_type, file in examples():
        answer = await client.post(
            path, content=file.read_bytes(), headers={"content-type": content_type}
        )
        assert answer.status_code == 202, (path, answer.text)
        assert answer.json()["id"], path
