"""TLS towards ARI: the context that verifies Asterisk's certificate, and what to tell an admin
when it does not verify.

A certificate that does not verify will not verify on the next try either, so it is not a
connection failure to retry (``ivr run`` would wait out ``ari.startup_timeout`` and then report
"unreachable"): it is an ``AriTlsError`` saying what to change.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from ivr.secrets import pbx_secrets_dir
from ivr.settings import Settings

BUNDLED_CA = "tls-ca.pem"
"""The CA the bundled PBX's certificate is signed by, in its secrets folder (ivr/pbx/tls_cert.py)."""


class AriTlsError(Exception):
    """Asterisk's certificate cannot be trusted, or the CA file cannot be read."""


def ca_file(settings: Settings) -> Path | None:
    """``ari.ca_file``; for the bundled PBX with TLS, the CA it generated; else none (the
    system's trust store)."""
    if settings.ari.ca_file:
        return settings.path(settings.ari.ca_file)
    if not settings.ari.url and settings.pbx.tls:
        return pbx_secrets_dir(settings) / BUNDLED_CA
    return None


@dataclass(frozen=True)
class AriTls:
    """The context for ``https://`` and ``wss://``, and the CA it trusts (for the messages)."""

    context: ssl.SSLContext
    ca: Path | None

    def refused(self, exc: ssl.SSLCertVerificationError, url: str) -> AriTlsError:
        return refused(exc, url, self.ca)


def client_tls(url: str, ca: Path | None) -> AriTls | None:
    """None for ``http://``; for ``https://`` a context verifying the certificate and the host
    name against ``ca`` (or the system's trust store)."""
    if not url.startswith("https://"):
        return None
    try:
        return AriTls(ssl.create_default_context(cafile=str(ca) if ca else None), ca)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise AriTlsError(f"ari.ca_file {ca}: cannot be read as PEM certificates ({reason})") from exc


def ari_tls(settings: Settings) -> AriTls | None:
    return client_tls(settings.ari_url, ca_file(settings))


def refused(exc: ssl.SSLCertVerificationError, url: str, ca: Path | None) -> AriTlsError:
    """What a failed verification means, in the admin's terms.

    >>> error = ssl.SSLCertVerificationError(1, "x")
    >>> error.verify_message = "unable to get local issuer certificate"
    >>> print(refused(error, "https://pbx:8089", None))  # doctest: +NORMALIZE_WHITESPACE
    ARI at https://pbx:8089: Asterisk's certificate is not signed by a trusted CA (unable to get
    local issuer certificate); set ari.ca_file to the CA certificate that signed it (now: the
    system's trust store)
    """
    message = getattr(exc, "verify_message", "") or str(exc)
    trusted = f"ari.ca_file {ca}" if ca else "the system's trust store"
    if "hostname mismatch" in message.lower() or "ip address mismatch" in message.lower():
        return AriTlsError(
            f"ARI at {url}: Asterisk's certificate is not issued for this host ({message}); put in "
            f"ari.url the name the certificate names, or issue one naming this host")
    if "expired" in message.lower():
        return AriTlsError(f"ARI at {url}: Asterisk's certificate has expired ({message}); renew it")
    return AriTlsError(
        f"ARI at {url}: Asterisk's certificate is not signed by a trusted CA ({message}); set "
        f"ari.ca_file to the CA certificate that signed it (now: {trusted})")
