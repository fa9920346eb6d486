"""A CloudEvents ``source`` is a URI-reference (RFC 3986): the check the ingress uses
(``router.events.UriReference``), the AsyncAPI document declaring it, and a record on
Kafka read as it is written, as its ``dataschema`` is."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from router.app import asyncapi
from router.events import UriReference
from router.vocabulary import EventType
from tests.unit.core.test_kafka_cloudevent_inputs import INTERACTION, RESOLVED, action, inbound

pytestmark = pytest.mark.unit

SOURCE = TypeAdapter(UriReference)
BAD = 'has spaces and "quotes"'


@pytest.mark.parametrize(
    "source",
    [
        "/switchboard/actions",
        "/helpdesk/eu%20west",
        "https://desk.example.com/hooks?from=zendesk#v2",
        "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
        "mailto:desk@example.com",
        "http://[::1]:8080/desk",
        "../relative/path",
        "desk-7",
    ],
)
def test_a_uri_reference_is_a_source(source: str) -> None:
    assert SOURCE.validate_python(source) == source


@pytest.mark.parametrize(
    ("source", "says"),
    [
        (BAD, "' ' at offset 3"),
        ("/desk\x00", "'\\x00' at offset 5"),
        *[(f"/desk{c}1", f"{c!r} at offset 5") for c in '<>{}|\\^`"'],
        ("/caf\u00e9", "'\u00e9' at offset 4"),  # an IRI, not a URI: percent-encode it
        ("/desk/%zz", "'%' at offset 6 is not followed by two hex digits"),
        ("/desk/%2", "'%' at offset 6"),
        ("1desk:x", "malformed"),  # no scheme starts with a digit; no relative path has ':'
        ("/desk#a#b", "malformed"),
        ("http://[::1/x", "malformed"),
        ("", "at least 1 character"),
    ],
)
def test_a_source_that_is_no_uri_reference_is_refused_saying_why(source: str, says: str) -> None:
    with pytest.raises(ValidationError) as raised:
        SOURCE.validate_python(source)
    assert says in str(raised.value)


def test_asyncapi_declares_the_cloudevent_source_a_uri_reference() -> None:
    schemas: dict[str, Any] = asyncapi.build()["components"]["schemas"]
    assert schemas["CloudEvent"]["properties"]["source"]["format"] == "uri-reference"


def test_on_kafka_a_bad_source_is_read_as_written_as_a_bad_dataschema_is() -> None:
    """Another producer's record is judged by what Switchboard reads of it: neither
    attribute stops an action or a message (the HTTP ingress refuses both)."""
    attributes = {"specversion": "1.0", "id": "e-1", "source": BAD, "dataschema": "not a uri"}
    received = {**attributes, "type": EventType.INTERACTION_RECEIVED, "data": INTERACTION}
    resolved = {**attributes, "type": "ticket.resolved", "data": RESOLVED}
    for event in (inbound(received).event, action(resolved).event):
        assert (event.source, event.model_extra) == (BAD, {"dataschema": "not a uri"})
