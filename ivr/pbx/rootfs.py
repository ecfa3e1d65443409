"""Building the cached Asterisk root with debootstrap, from the machine's own Debian mirror."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PACKAGES = ("asterisk", "asterisk-modules", "asterisk-core-sounds-en-gsm")
SUITE = "sid"
ASTERISK = "/usr/sbin/asterisk"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


class RootError(Exception):
    pass


def mirror_from_sources(texts: list[str]) -> str | None:
    """The first Debian archive (not the security one) named in apt sources, either format.

    >>> mirror_from_sources(["Types: deb\\nURIs: http://m.example/debian\\nSuites: bookworm\\n"])
    'http://m.example/debian'
    >>> mirror_from_sources(["deb [arch=amd64] http://m.example/debian bookworm main"])
    'http://m.example/debian'
    """
    for text in texts:
        for uri in re.findall(r"^URIs:\s*(\S+)", text, flags=re.MULTILINE):
            if _is_archive(uri):
                return str(uri).rstrip("/")
        for uri in re.findall(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)", text, flags=re.MULTILINE):
            if _is_archive(uri):
                return str(uri).rstrip("/")
    return None


def _is_archive(uri: str) -> bool:
    return uri.startswith("http") and uri.rstrip("/").endswith("/debian")


def system_mirror() -> str | None:
    texts = []
    for place in APT_SOURCES:
        files = sorted(place.glob("*.sources")) + sorted(place.glob("*.list")) if place.is_dir() else [place]
        texts += [f.read_text(encoding="utf-8", errors="replace") for f in files if f.is_file()]
    return mirror_from_sources(texts)


def is_built(root: Path) -> bool:
    return (root / ASTERISK.lstrip("/")).exists()


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def ensure_root(root: Path, mirror: str, log: Path) -> bool:
    """Build the root if it is missing; True if it was built now. Safe against a parallel build."""
    with _locked(root):
        if is_built(root):
            return False
        if os.geteuid() != 0:
            raise RootError(f"building the Asterisk root at {root} needs root (debootstrap, chroot)")
        debootstrap = shutil.which("debootstrap")
        if not debootstrap:
            raise RootError("debootstrap is not installed: apt-get install debootstrap")
        mirror = mirror or system_mirror() or ""
        if not mirror:
            raise RootError("no Debian mirror in the apt sources; set pbx.mirror (IVR_PBX__MIRROR)")
        partial = root.with_name(root.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        command = [debootstrap, "--variant=minbase", f"--include={','.join(PACKAGES)}",
                   SUITE, str(partial), mirror]
        with open(log, "w") as out:
            result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
        if result.returncode != 0 or not is_built(partial):
            tail = "".join(log.read_text(errors="replace").splitlines(True)[-10:])
            raise RootError(f"debootstrap from {mirror} failed ({result.returncode}); see {log}:\n{tail}")
        partial.rename(root)
        return True
