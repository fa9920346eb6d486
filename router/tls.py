"""A client certificate and its key, loaded for TLS to Kafka or Redis without ever asking
a terminal.

Given no password, OpenSSL asks for an encrypted key's pass phrase on the terminal: a
process with one waited there (once per Kafka client built), and one without failed
with "Invalid argument", blamed on the certificate. The password is always given here,
as a function OpenSSL calls only for an encrypted key: it hands over the configured
pass phrase, or, with none, stops the load with one line naming the setting to set.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from router.errors import ConfigError

KEY_MISMATCH = "KEY_VALUES_MISMATCH"
"""OpenSSL's reason when the key is not the certificate's: no pass phrase is at fault."""


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A client certificate, its key (None: in the certificate's file) and the key's
    pass phrase, each with the setting an operator fixes it in."""

    certfile: Path
    keyfile: Path | None
    password: str | None
    certfile_setting: str
    password_setting: str
    """Named for an encrypted key without its pass phrase, or with a wrong one."""
    without_password: str
    """What to do about an encrypted key given no pass phrase."""


class _NoPassword(Exception):
    """An encrypted key and no pass phrase: raised inside OpenSSL's password callback."""


def load_client_certificate(ctx: ssl.SSLContext, cert: ClientCertificate) -> None:
    """Load ``cert`` into ``ctx``; a file that cannot be used, an encrypted key without
    its pass phrase, or a pass phrase that does not decrypt it is one ConfigError naming
    the setting to fix."""
    asked = False

    def password() -> str:
        nonlocal asked
        asked = True
        if cert.password is None:
            raise _NoPassword
        return cert.password

    keyfile = cert.keyfile or cert.certfile
    try:
        ctx.load_cert_chain(
            str(cert.certfile), str(cert.keyfile) if cert.keyfile else None, password=password
        )
    except _NoPassword:
        problem = f"the key in {keyfile} is encrypted and no pass phrase is given: "
        problem += cert.without_password
        raise ConfigError(cert.password_setting, problem) from None
    except ValueError as exc:  # CPython's: a pass phrase over 1,023 bytes
        problem = f"cannot open the key in {keyfile}: {exc}"
        raise ConfigError(cert.password_setting, problem) from None
    except OSError as exc:  # ssl.SSLError is one
        if asked and getattr(exc, "reason", None) != KEY_MISMATCH:
            problem = f"does not decrypt the key in {keyfile} (the pass phrase is wrong)"
            raise ConfigError(cert.password_setting, problem) from None
        raise ConfigError(cert.certfile_setting, unusable(cert.certfile, exc)) from None


def unusable(path: object, exc: BaseException) -> str:
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"cannot use {path}: {why}"
