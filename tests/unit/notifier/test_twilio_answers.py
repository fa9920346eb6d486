"""What the Twilio transport sends and how it reads Twilio's answers: a 500 may come
after Twilio queued the message (error 20500), so it is an unknown outcome, tried at most
once more; and a number written with its ``whatsapp:`` prefix is not prefixed twice."""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx
import pytest

from consumers.notify.plan import Delivery
from consumers.notify.transports import Outgoing, SendFailed, TwilioTransport

pytestmark = pytest.mark.unit


def transport(status: int, seen: list[dict[str, str]], sender: str) -> TwilioTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(dict(parse_qsl(request.content.decode())))
        return httpx.Response(status, json={"sid": "SM1", "code": 20500})

    twilio = TwilioTransport("https://api.twilio.test", "AC1", "token", sender, 5.0)
    twilio._client = httpx.AsyncClient(  # noqa: SLF001 - the same client, answered here
        base_url="https://api.twilio.test", transport=httpx.MockTransport(answer)
    )
    return twilio


def out(medium: str, to: str) -> Outgoing:
    delivery = Delivery("d-1", "e-1", "auto_reply", "t", medium, to)  # type: ignore[arg-type]
    return Outgoing(delivery, None, "We are closed.", "T-1")


@pytest.mark.parametrize(
    ("status", "unknown"), [(500, True), (502, True), (503, False), (429, False)]
)
async def test_a_500_is_an_unknown_outcome_a_503_a_refusal(status: int, unknown: bool) -> None:
    twilio = transport(status, [], "+15550000000")
    with pytest.raises(SendFailed) as failed:
        await twilio.send(out("sms", "+15550001111"))
    assert (failed.value.retriable, failed.value.unknown) == (True, unknown)


@pytest.mark.parametrize("sender", ["+15550000000", "whatsapp:+15550000000"])
async def test_a_sender_written_with_its_prefix_is_prefixed_once(sender: str) -> None:
    seen: list[dict[str, str]] = []
    twilio = transport(201, seen, sender)
    await twilio.send(out("whatsapp", "whatsapp:+15550001111"))
    await twilio.send(out("sms", "+15550001111"))
    assert [(f["From"], f["To"]) for f in seen] == [
        ("whatsapp:+15550000000", "whatsapp:+15550001111"),
        ("+15550000000", "+15550001111"),
    ]


@pytest.mark.parametrize(("step_s", "data_s"), [(10.0, 60.0), (30.0, 90.0)])
def test_a_retry_claim_outlasts_the_longest_send_a_run_may_start(
    step_s: float, data_s: float
) -> None:
    """The claim had held 3 steps and one DATA wait (120 s by default), while a run may
    start a send 30 s in and a send takes up to seven timed steps and two DATA waits:
    another notifier could take the delivery under the send and send it again."""
    from consumers.notifier import RETRY_RUN_S
    from router.app.notifier import claim_s
    from router.settings import Settings

    settings = Settings(smtp_timeout_s=step_s, smtp_data_timeout_s=data_s)
    assert claim_s(settings) >= RETRY_RUN_S + 7 * step_s + 2 * data_s


async def test_an_unsubscribed_recipient_is_a_refusal_of_its_own() -> None:
    """Twilio's 21610: the number sent STOP. No retry or dead letter changes that."""

    def answer(_: httpx.Request) -> httpx.Response:
        body = {"code": 21610, "message": "Attempt to send to unsubscribed recipient"}
        return httpx.Response(400, json={**body, "status": 400})

    twilio = TwilioTransport("https://api.twilio.test", "AC1", "token", "+15550000000", 5.0)
    twilio._client = httpx.AsyncClient(  # noqa: SLF001 - the same client, answered here
        base_url="https://api.twilio.test", transport=httpx.MockTransport(answer)
    )
    with pytest.raises(SendFailed) as refused:
        await twilio.send(out("sms", "+15550001111"))
    assert (refused.value.retriable, refused.value.unsubscribed) == (False, True)
    assert "21610" in refused.value.answer
