"""Generated secrets: made once, whoever asks first, even two processes at the same moment."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from ivr.secrets import ensure_secret


def test_a_secret_is_made_once_private_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "pbx" / "ari-password"

    made = ensure_secret(path)

    assert ensure_secret(path) == made and len(made) >= 24
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["ari-password"]


def test_a_secret_made_by_another_process_after_the_check_is_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ari-password"
    path.write_text("theirs\n")
    # The other `ivr pbx up` creates the file between this one's check and its own creation.
    monkeypatch.setattr(Path, "exists", lambda self: False)

    assert ensure_secret(path) == "theirs"


def _make(path: str, start: object, out: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    out.put(ensure_secret(Path(path)))  # type: ignore[attr-defined]


def test_processes_racing_on_a_fresh_folder_all_get_the_same_secret(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    start, out = context.Barrier(8), context.Queue()
    workers = [context.Process(target=_make, args=(str(tmp_path / "s" / "ari-password"), start, out))
               for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)

    assert [worker.exitcode for worker in workers] == [0] * 8
    assert len({out.get(timeout=1) for _ in workers}) == 1
