"""Generated passwords: made once, kept in files only their owner can read."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ivr.settings import Settings


class MissingSecret(Exception):
    pass


def pbx_secrets_dir(settings: Settings) -> Path:
    return settings.state_path / "pbx" / settings.pbx.instance


def ensure_secret(path: Path, pin: bool = False) -> str:
    """Read the secret in ``path``, generating it (mode 0600) the first time; a PIN is 8 digits.

    Two processes may generate it at once (two ``ivr pbx up`` on a fresh state folder): each
    writes its value to a file of its own and links it to ``path``, which only one link can
    take; the other reads the winner's. ``path`` never exists half-written."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = f"{secrets.randbelow(10**8):08d}" if pin else secrets.token_urlsafe(24)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(draft, path)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    finally:
        draft.unlink(missing_ok=True)
    return value


def ari_password(settings: Settings) -> str:
    """The ARI password: the setting (from the environment), its file, or the bundled PBX's."""
    if settings.ari.password:
        return settings.ari.password
    path = (
        settings.path(settings.ari.password_file)
        if settings.ari.password_file
        else pbx_secrets_dir(settings) / "ari-password"
    )
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise MissingSecret(
            f"no ARI password: cannot read {path} ({exc.strerror}); set IVR_ARI__PASSWORD, "
            "ari.password_file, or run 'ivr pbx up' to generate the bundled PBX's"
        ) from exc
    if not value:
        raise MissingSecret(f"no ARI password: {path} is empty")
    return value
