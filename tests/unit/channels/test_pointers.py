"""Error pointers are RFC 6901 JSON Pointers, whatever shape the location has."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from channels.problems import ROOT, pointer, validation_errors

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("loc", "expected"),
    [
        ((), ""),  # the whole document
        (("body",), ""),  # FastAPI's marker for the whole body
        (("body", "visitor", "id"), "/visitor/id"),
        (("data", "body"), "/data/body"),  # a member named body is kept
        ((1,), "/1"),  # a list item
        ((1, "data", "score"), "/1/data/score"),
        (("capacity", "fax", "[key]"), "/capacity/fax"),  # an invalid key: its member
        (("a/b", "m~n"), "/a~1b/m~0n"),  # escaped
        (("attributes", ""), "/attributes/"),  # a member named "" is "/" + ""
    ],
)
def test_pointer_shapes(loc: tuple[int | str, ...], expected: str) -> None:
    assert pointer(loc) == expected


class Pair(BaseModel):
    items: list[int]
    sizes: dict[int, int]


def test_validation_errors_point_at_list_items_and_map_members() -> None:
    with pytest.raises(ValidationError) as info:
        Pair.model_validate({"items": [1, "x"], "sizes": {"big": 1}})
    pointers = [e["pointer"] for e in validation_errors(info.value)]
    assert pointers == ["/items/1", "/sizes/big"]


def test_a_root_error_points_at_the_whole_document() -> None:
    with pytest.raises(ValidationError) as info:
        Pair.model_validate([1])
    assert [e["pointer"] for e in validation_errors(info.value)] == [ROOT]
