"""Building the cached Asterisk root with debootstrap, from the machine's own Debian mirror."""

from __future__ import annotations

import fcntl
import grp
import os
import pwd
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
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


Progress = Callable[[str], None]


def stage(line: str, previous: str) -> str | None:
    """The stage a debootstrap output line starts, or None while the stage goes on: its
    lines come by the hundred ("I: Extracting libc6..."), its stages by the dozen.

    >>> stage("I: Retrieving InRelease ", "")
    'Retrieving'
    >>> stage("I: Retrieving libc6 2.41-1", "Retrieving") is None
    True
    >>> stage("I: Base system installed successfully.", "Configuring")
    'Base'
    >>> stage("W: Cannot check Release signature", "Retrieving") is None
    True
    """
    if not line.startswith("I: "):
        return None
    verb = line[3:].split(" ", 1)[0]
    return verb if verb and verb != previous else None


def ensure_root(root: Path, mirror: str, log: Path, progress: Progress = lambda line: None) -> bool:
    """Build the root if it is missing; True if it was built now. Safe against a parallel build.
    Either way, the root's asterisk user is given ids of its own (``own_ids``). ``progress`` is
    told each stage of a build (a minute of work)."""
    with _locked(root):
        if is_built(root):
            own_ids(root)
            return False
        _build(root, mirror, log, progress)
        own_ids(root)
        return True


def _debootstrap(command: list[str], log: Path, progress: Progress) -> int:
    started = time.monotonic()
    previous = ""
    with open(log, "w") as out, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                  text=True, errors="replace") as process:
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            if (verb := stage(line, previous)) is not None:
                previous = verb
                progress(f"[{time.monotonic() - started:3.0f} s] debootstrap: {line[3:].strip()}")
    return process.returncode


def _build(root: Path, mirror: str, log: Path, progress: Progress) -> None:
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
    started = time.monotonic()
    progress(f"building the Asterisk root at {root}: debootstrap {SUITE} from {mirror} with "
             f"{', '.join(PACKAGES)} (log: {log})")
    code = _debootstrap(command, log, progress)
    if code != 0 or not is_built(partial):
        tail = "".join(log.read_text(errors="replace").splitlines(True)[-10:])
        raise RootError(f"debootstrap from {mirror} failed ({code}); see {log}:\n{tail}")
    partial.rename(root)
    progress(f"Asterisk root built in {time.monotonic() - started:.0f} s")


OWN_IDS = range(64_100, 65_000)
"""Where the root's asterisk user and group get their ids: above the ranges Debian hands out
to system (100-999) and ordinary (1000-59999) users, below nobody (65534)."""


def own_ids(root: Path) -> int | None:
    """Give the root's asterisk user and group an id no user or group of this machine has.

    Debian's package makes them a system user, often 101: on a host where 101 is someone else
    (Debian's postgres), the instance's files, the ARI password among them, look like that
    user's. Changed while no Asterisk runs from this root (a running one keeps its files);
    returns the new id, or None when nothing changed."""
    passwd, group = root / "etc" / "passwd", root / "etc" / "group"
    uid, gid = _id_of(passwd.read_text(), "asterisk"), _id_of(group.read_text(), "asterisk")
    if uid is None or gid is None:
        return None
    host_users = {entry.pw_uid for entry in pwd.getpwall()}
    host_groups = {entry.gr_gid for entry in grp.getgrall()}
    if uid in OWN_IDS and gid in OWN_IDS and uid not in host_users and gid not in host_groups:
        return None
    if os.geteuid() != 0 or _running_from(root):
        return None
    taken = host_users | host_groups | _ids(passwd.read_text()) | _ids(group.read_text())
    new = free_id(taken)
    for command in (["groupmod", "-g", str(new), "asterisk"], ["usermod", "-u", str(new), "-g", str(new),
                                                                  "asterisk"]):
        subprocess.run(["chroot", str(root), *command], check=True, capture_output=True)
    _chown_tree(root, uid, gid, new)
    return new


def _chown_tree(root: Path, uid: int, gid: int, new: int) -> None:
    """What belonged to the old ids in the root (its cache, logs, spool, the instances) now
    belongs to the new ones; the root stays on one file system."""
    device = root.stat().st_dev
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [d for d in subfolders if os.lstat(os.path.join(folder, d)).st_dev == device]
        for name in [*subfolders, *names]:
            path = os.path.join(folder, name)
            found = os.lstat(path)
            if found.st_uid == uid or found.st_gid == gid:
                os.lchown(path, new if found.st_uid == uid else -1, new if found.st_gid == gid else -1)


def free_id(taken: set[int]) -> int:
    """
    >>> free_id({64_100, 64_101})
    64102
    """
    return next(candidate for candidate in OWN_IDS if candidate not in taken)


def _id_of(table: str, name: str) -> int | None:
    """
    >>> _id_of("root:x:0:0::/root:/bin/sh\\nasterisk:x:101:101::/var/lib/asterisk:/bin/false", "asterisk")
    101
    """
    for line in table.splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    return None


def _ids(table: str) -> set[int]:
    return {int(fields[2]) for fields in (line.split(":") for line in table.splitlines())
            if len(fields) > 2 and fields[2].isdigit()}


def _running_from(root: Path) -> bool:
    """Whether a process runs chrooted in ``root`` (an Asterisk of any instance)."""
    target = root.resolve()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "root").resolve() == target:
                return True
        except OSError:
            continue
    return False
