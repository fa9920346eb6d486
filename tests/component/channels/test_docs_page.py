"""``/docs`` works without the internet: every script, style and icon the page loads is
served by the ingress itself, not by a CDN (a platform team's network may reach none)."""

from __future__ import annotations

import re

import pytest

from router.settings import Settings
from tests.component.channels.support import client_for

pytestmark = pytest.mark.component


async def test_the_docs_page_loads_only_what_the_ingress_serves(settings: Settings) -> None:
    async with client_for(settings) as client:
        page = await client.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        loaded = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        loaded += re.findall(r"url: '([^']+)'", page.text)  # the OpenAPI document
        assert loaded, page.text
        assert not [url for url in loaded if "//" in url], loaded  # nothing from elsewhere
        kinds = {}
        for url in loaded:
            asset = await client.get(url)
            assert asset.status_code == 200, url
            kinds[url.rsplit(".", 1)[-1]] = asset.headers["content-type"]
        assert kinds["js"].startswith(("text/javascript", "application/javascript"))
        assert kinds["css"].startswith("text/css")
        assert kinds["json"].startswith("application/json")
        assert b"SwaggerUIBundle" in (await client.get("/docs/static/swagger-ui-bundle.js")).content
        assert (await client.head("/docs")).status_code == 200
        assert '"validatorUrl": null' in page.text  # no badge fetched from swagger.io
