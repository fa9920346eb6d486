"""The passthrough of ``raw`` written as a FastStream batch subscriber: the figure that
decides whether the consume loop moves onto FastStream (issue 12, item 8).

Same work per batch as the aiokafka passthrough: every record produced twice with the
same producer settings (``acks=all``, no idempotence, the same batch size), the batch's
acks awaited, then one manual acknowledgement (a commit). FastStream's logging is off,
as the raw loop has none. Optional: without ``faststream`` installed there is no row.
It reaches the broker as every client does: the same TLS context and SASL login
(``security``).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from router.kafka import client_options
from router.settings import KafkaSettings, Settings

if TYPE_CHECKING:
    from faststream.security import BaseSecurity

TIMEOUT_S = 120.0


def available() -> bool:
    try:
        import faststream.kafka  # noqa: F401
    except ImportError:
        return False
    return True


def security(kafka: KafkaSettings) -> BaseSecurity | None:
    """The security protocol, TLS context and SASL login of the Kafka settings as
    FastStream takes them (its ``security`` objects; the broker had ignored them and
    spoken PLAINTEXT), built by ``client_options`` as for every other client, so a
    missing credential or an unusable TLS file is the same one line."""
    from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

    options = client_options(kafka)
    tls = options.get("ssl_context")
    if not kafka.security_protocol.startswith("SASL"):
        return BaseSecurity(ssl_context=tls) if tls else None
    login = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
    return login[kafka.sasl_mechanism](
        options["sasl_plain_username"], options["sasl_plain_password"], ssl_context=tls
    )


async def faststream_passthrough(settings: Settings, source: str, sink: str, n: int) -> float:
    """Seconds from the first batch until ``n`` records are passed through and committed."""
    from faststream import AckPolicy
    from faststream.kafka import KafkaBroker, KafkaMessage

    kafka = settings.kafka
    broker = KafkaBroker(
        kafka.bootstrap_servers or "",
        client_id=kafka.client_id,
        acks="all",
        enable_idempotence=False,
        max_batch_size=kafka.max_batch_bytes,
        max_request_size=max(kafka.max_batch_bytes, kafka.max_record_bytes),
        linger_ms=0,
        logger=None,
        security=security(kafka),
    )
    seen = 0
    began: float | None = None
    done = asyncio.Event()

    @broker.subscriber(
        source,
        batch=True,
        group_id=f"{settings.topic_prefix}.fs-passthrough",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=kafka.fetch_max_wait_ms,
        max_records=kafka.max_poll_records,
        batch_timeout_ms=100,
        ack_policy=AckPolicy.MANUAL,
    )
    async def passthrough(body: list[bytes], msg: KafkaMessage) -> None:
        nonlocal seen, began
        if began is None:
            began = time.perf_counter()
        records: Any = msg.raw_message
        futures = []
        for record in records:
            for _ in range(2):
                futures.append(
                    await broker.publish(record.value, sink, key=record.key, no_confirm=True)
                )
        await asyncio.gather(*futures)
        await msg.ack()
        seen += len(body)
        if seen >= n:
            done.set()

    await broker.start()
    try:
        await asyncio.wait_for(done.wait(), TIMEOUT_S)
    finally:
        await broker.stop()
    return time.perf_counter() - (began or time.perf_counter())
