"""The bundled PBX's TLS certificate for HTTP/ARI: a CA of its own and a server certificate it
signs, made once by the ``openssl`` command into the instance's secrets folder.

A CA apart from the server certificate, rather than one self-signed certificate: Python's
default verification (and OpenSSL 3's strict mode) wants a leaf that is not a CA, with the
names it serves in subjectAltName.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from pathlib import Path

CA, CA_KEY, CERT, KEY, NAMES = "tls-ca.pem", "tls-ca-key.pem", "tls-cert.pem", "tls-key.pem", "tls-names"
DAYS = "3650"


class CertificateError(Exception):
    pass


def alt_names(hosts: list[str]) -> str:
    """subjectAltName for the addresses and names the PBX is reached by.

    >>> alt_names(["127.0.0.1", "localhost", "::1", "127.0.0.1"])
    'IP:127.0.0.1,DNS:localhost,IP:::1'
    """
    names: list[str] = []
    for host in hosts:
        try:
            ipaddress.ip_address(host)
            name = f"IP:{host}"
        except ValueError:
            name = f"DNS:{host}"
        if name not in names:
            names.append(name)
    return ",".join(names)


def ensure_certificate(folder: Path, hosts: list[str]) -> tuple[Path, Path]:
    """The server certificate and key for ``hosts``; made again when the names change."""
    names = alt_names(hosts)
    cert, key = folder / CERT, folder / KEY
    if cert.exists() and key.exists() and _read(folder / NAMES) == names:
        return cert, key
    if not shutil.which("openssl"):
        raise CertificateError("pbx.tls needs the openssl command: apt-get install openssl")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    old = os.umask(0o077)
    try:
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-days", DAYS, "-subj", "/CN=ivr bundled PBX CA", "-keyout", str(folder / CA_KEY),
                 "-out", str(folder / CA))
        request = folder / "tls-request.pem"
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-subj", f"/CN={hosts[0]}", "-keyout", str(key), "-out", str(request))
        extensions = folder / "tls-extensions.cnf"
        extensions.write_text(f"basicConstraints = critical, CA:FALSE\nsubjectAltName = {names}\n"
                              "keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n"
                              "authorityKeyIdentifier = keyid\nsubjectKeyIdentifier = hash\n")
        _openssl("x509", "-req", "-in", str(request), "-CA", str(folder / CA), "-CAkey", str(folder / CA_KEY),
                 "-CAcreateserial", "-days", DAYS, "-extfile", str(extensions), "-out", str(cert))
        for leftover in (request, extensions, folder / "tls-ca.srl"):
            leftover.unlink(missing_ok=True)
        (folder / NAMES).write_text(names)
    finally:
        os.umask(old)
    return cert, key


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CertificateError(f"openssl {args[0]} failed ({result.returncode}): {result.stderr.strip()}")
