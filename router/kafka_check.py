"""The start-up check of Kafka: one line naming the setting to fix when no broker can be
used, with what the broker or the TLS handshake said.

aiokafka's bootstrap reduces every broker's failure to "Unable to bootstrap", so a CA
that does not verify the broker, a broker that wants a client certificate, a SASL
mechanism it does not offer or a refused password had all read as "no Kafka broker
answers". What each broker did is in the error the bootstrap logs for it: the check
reads those errors (``_LoggedErrors``) and names the setting the first telling one
points at.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from router.errors import ConfigError, cause_of
from router.kafka import BOOTSTRAP_SETTING, make_admin
from router.settings import KafkaSettings, Settings

HOST_MISMATCH = frozenset({62, 64})
"""OpenSSL's verify codes for a certificate that names another host or IP address."""
OUT_OF_DATE = frozenset({9, 10})
"""OpenSSL's verify codes for a certificate not yet valid (a clock behind) or expired: the
CA may well trust it, so the CA setting is not what to fix."""
CLIENT_CERTIFICATE_REFUSED = frozenset(
    {
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
    }
)
"""The TLS alerts (OpenSSL's reasons) a server sends about the client's certificate:
missing, unknown, expired or not trusted."""


async def check_kafka(settings: Settings) -> None:
    """Fail fast: raise ConfigError when no broker can be used, naming the setting its
    cause points at (the CA file, the client certificate, the SASL settings), else the
    bootstrap setting and, when it is not PLAINTEXT, the security protocol: a broker
    whose listener speaks another one looks, to the client, like no broker at all."""
    admin = make_admin(settings)
    with _LoggedErrors.caught() as logged:
        try:
            await asyncio.wait_for(admin.start(), settings.kafka.connect_timeout_s)
        except (KafkaConnectionError, KafkaError, OSError, TimeoutError) as exc:
            raise unusable_broker(settings.kafka, [*logged.errors, exc]) from None
        except Exception as exc:  # noqa: BLE001 - the client's own failure, as one line
            raise client_failed(settings.kafka, exc) from None
        finally:
            await admin.close()


def unusable_broker(kafka: KafkaSettings, errors: Sequence[BaseException]) -> ConfigError:
    """The line for a bootstrap that failed with ``errors`` (each broker's, then the
    client's own): the first that tells what to fix, else the first broker's, or the
    check's own timeout when it gave up waiting."""
    for exc in errors:
        told = _telling(kafka, exc)
        if told is not None:
            return told
    gave_up = isinstance(errors[-1], TimeoutError)  # what was logged came of it
    cause = errors[-1] if gave_up else errors[0]
    problem = f"no Kafka broker answers at {kafka.bootstrap_servers} ({_said(cause)})"
    return ConfigError(BOOTSTRAP_SETTING, problem + _protocol_hint(kafka))


def client_failed(kafka: KafkaSettings, exc: Exception) -> ConfigError:
    """The line for an error the client raised past its bootstrap, which passes on only
    connection and broker errors: a broker's answer it could not read, such as a SCRAM
    server-final message carrying ``e=`` (an error) instead of ``v=`` (``KeyError: 'v'``),
    had been a traceback."""
    problem = f"the Kafka client failed with the broker at {kafka.bootstrap_servers} ({_said(exc)})"
    if not kafka.security_protocol.startswith("SASL"):
        return ConfigError(BOOTSTRAP_SETTING, problem + _protocol_hint(kafka))
    return ConfigError(
        BOOTSTRAP_SETTING,
        f"{problem}; it logs in with SASL {kafka.sasl_mechanism} as {kafka.sasl_username!r}: "
        "check SWITCHBOARD_KAFKA_SASL_MECHANISM, SWITCHBOARD_KAFKA_SASL_USERNAME and "
        "SWITCHBOARD_KAFKA_SASL_PASSWORD",
    )


def _unverified(kafka: KafkaSettings, tls: ssl.SSLCertVerificationError) -> ConfigError:
    """A broker certificate this client does not accept, named by why: another name, out
    of date, or a CA that does not vouch for it."""
    where, said = kafka.bootstrap_servers, _said(tls)
    if tls.verify_code in HOST_MISMATCH:
        problem = (
            f"the certificate of the broker at {where} is not valid for that name "
            f"({said}): connect by a name the certificate holds"
        )
        return ConfigError(BOOTSTRAP_SETTING, problem)
    if tls.verify_code in OUT_OF_DATE:
        problem = (
            f"the certificate of the broker at {where} is out of date ({said}): renew "
            "the broker's certificate, or set this host's clock right"
        )
        return ConfigError(BOOTSTRAP_SETTING, problem)
    trusted = kafka.ssl_cafile or "the system's CAs (SWITCHBOARD_KAFKA_SSL_CAFILE is unset)"
    problem = f"the certificate of the broker at {where} does not verify against {trusted}"
    return ConfigError("SWITCHBOARD_KAFKA_SSL_CAFILE", f"{problem} ({said})")


def _telling(kafka: KafkaSettings, exc: BaseException) -> ConfigError | None:
    where, said = kafka.bootstrap_servers, _said(exc)
    tls = cause_of(exc, ssl.SSLError)  # a server's alert ends the connection it reports
    if isinstance(tls, ssl.SSLCertVerificationError):
        return _unverified(kafka, tls)
    if tls is not None and tls.reason in CLIENT_CERTIFICATE_REFUSED:
        said = _said(tls)
        if kafka.ssl_certfile is None:
            problem = f"not set, and the broker at {where} wants a client certificate ({said})"
        else:
            problem = f"the broker at {where} refused {kafka.ssl_certfile} ({said})"
        return ConfigError("SWITCHBOARD_KAFKA_SSL_CERTFILE", problem)
    if isinstance(exc, UnsupportedSaslMechanismError):
        problem = (
            f"the broker at {where} does not take {kafka.sasl_mechanism} ({said}): set one "
            "its listener offers" + _protocol_hint(kafka, "or it")
        )
        return ConfigError("SWITCHBOARD_KAFKA_SASL_MECHANISM", problem)
    if isinstance(exc, SaslAuthenticationFailed):
        problem = (
            f"the broker at {where} refused the user {kafka.sasl_username!r} with this "
            f"password over {kafka.sasl_mechanism} ({said}): check it, "
            "SWITCHBOARD_KAFKA_SASL_USERNAME and SWITCHBOARD_KAFKA_SASL_MECHANISM"
        )
        return ConfigError("SWITCHBOARD_KAFKA_SASL_PASSWORD", problem)
    return None


def _said(exc: BaseException) -> str:
    """The error as the tools' lines show one (``kafka_unavailable``): type and text."""
    name, text = type(exc).__name__, " ".join(str(exc).split())[:300]
    if not text or text.startswith(f"{name}:"):  # aiokafka's own errors begin so
        return text or name
    return f"{name}: {text}"


def _protocol_hint(kafka: KafkaSettings, lead: str = "it") -> str:
    if kafka.security_protocol == "PLAINTEXT":
        return ""
    return (
        f"; {lead} is reached with SWITCHBOARD_KAFKA_SECURITY_PROTOCOL="
        f"{kafka.security_protocol}: check that the broker's listener speaks it"
    )


class _LoggedErrors(logging.Handler):
    """The errors aiokafka logs while the check runs (the bootstrap logs each broker's
    failure with the error as an argument), kept rather than written: the check's one
    line says what they mean."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        self.errors.extend(arg for arg in args if isinstance(arg, BaseException))
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])

    @classmethod
    @contextmanager
    def caught(cls) -> Iterator[_LoggedErrors]:
        logger = logging.getLogger("aiokafka")
        handler = cls()
        level, propagate = logger.level, logger.propagate
        logger.setLevel(logging.WARNING)
        logger.propagate = False
        logger.addHandler(handler)
        try:
            yield handler
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
