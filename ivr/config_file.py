"""Reading a TOML config file with environment overrides, and reporting problems by location.

A problem names where the bad value came from: ``ivr.toml:12 [ari] port`` for the file, or
``environment IVR_ARI__PORT`` for an override, so an admin can go straight to it.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_PREFIX = "IVR_"
ENV_NESTING = "__"


@dataclass(frozen=True)
class Problem:
    where: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}"


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class RawConfig:
    """The merged data, plus what is needed to say where each value came from."""

    data: dict[str, Any]
    path: Path | None
    text: str
    env_keys: Mapping[tuple[str, ...], str]

    def where(self, loc: tuple[str | int, ...]) -> str:
        keys = tuple(str(k) for k in loc)
        for length in range(len(keys), 0, -1):
            if keys[:length] in self.env_keys:
                return f"environment {self.env_keys[keys[:length]]}"
        name = str(self.path) if self.path else "defaults"
        line = locate_line(self.text, keys) if self.text else None
        return f"{name}:{line}" if line else name


def load_raw(path: Path | None, environ: Mapping[str, str] | None = None,
             top_level: frozenset[str] = frozenset()) -> RawConfig:
    """Parse the file (if any) and overlay ``IVR_SECTION__KEY=value`` variables, and
    ``IVR_KEY=value`` for the ``top_level`` keys."""
    text = ""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([Problem(str(path), "-", f"cannot read: {exc.strerror}")]) from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([Problem(f"{path}", "-", f"not valid TOML: {exc}")]) from exc
    env_keys = _overlay_environment(data, os.environ if environ is None else environ, top_level)
    return RawConfig(data=data, path=path, text=text, env_keys=env_keys)


def _overlay_environment(
    data: dict[str, Any], environ: Mapping[str, str], top_level: frozenset[str]
) -> dict[tuple[str, ...], str]:
    applied: dict[tuple[str, ...], str] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        if ENV_NESTING not in name and name[len(ENV_PREFIX):].lower() not in top_level:
            continue
        keys = tuple(part.lower() for part in name[len(ENV_PREFIX):].split(ENV_NESTING))
        if not all(keys):
            continue
        table = data
        for key in keys[:-1]:
            table = table.setdefault(key, {})
            if not isinstance(table, dict):
                break
        else:
            table[keys[-1]] = value
            applied[keys] = name
    return applied


_TABLE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_ARRAY_TABLE = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.\-\"']+)\s*=")


def locate_line(text: str, keys: tuple[str, ...]) -> int | None:
    """Best line number for a dotted key path in TOML text; the table header if the key is absent.

    >>> locate_line("[ari]\\nurl = 'x'\\nport = 1\\n", ("ari", "port"))
    3
    >>> locate_line("[[flows]]\\nname='a'\\n[[flows]]\\nname='b'\\n", ("flows", "1", "name"))
    4
    """
    table: tuple[str, ...] = ()
    counts: dict[tuple[str, ...], int] = {}
    best: tuple[int, int] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if match := _ARRAY_TABLE.match(line):
            name = _split_key(match.group(1))
            index = counts.get(name, -1) + 1
            counts[name] = index
            table = (*name, str(index))
            best = _better(best, _matched(table, keys), number)
        elif match := _TABLE.match(line):
            table = _split_key(match.group(1))
            best = _better(best, _matched(table, keys), number)
        elif match := _KEY.match(line):
            best = _better(best, _matched((*table, *_split_key(match.group(1))), keys), number)
    return best[1] if best else None


def _split_key(key: str) -> tuple[str, ...]:
    return tuple(part.strip().strip("\"'") for part in key.split("."))


def _matched(path: tuple[str, ...], keys: tuple[str, ...]) -> int:
    """How many leading keys the path matches, or 0 if it diverges from them."""
    if len(path) > len(keys) or keys[: len(path)] != path:
        return 0
    return len(path)


def _better(best: tuple[int, int] | None, score: int, line: int) -> tuple[int, int] | None:
    if score and (best is None or score > best[0]):
        return (score, line)
    return best
