"""What every test of an HTTP error checks: an RFC 9457 problem+json answer with the
status, its required members and, for a validation error, the field's pointer."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM = "application/problem+json"


def assert_problem(resp: httpx.Response, status: int, pointer: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = resp.json()
    assert problem["status"] == status
    assert {"type", "title", "detail"} <= problem.keys()
    if pointer is not None:
        assert pointer in [e["pointer"] for e in problem.get("errors", [])], problem
    return problem
