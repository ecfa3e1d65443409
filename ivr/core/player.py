"""Which prompt is playing on a call, so that only its own PlaybackFinished counts."""

from __future__ import annotations

from ivr.core.commands import Command, Play, StopPlayback


class Player:
    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.plays = 0
        self.playing: str | None = None

    def play(self, media: tuple[str, ...]) -> list[Command]:
        stop = self.stop()
        self.plays += 1
        self.playing = f"{self.call_id}-{self.plays}"
        return [*stop, Play(self.playing, media)]

    def stop(self) -> list[Command]:
        if self.playing is None:
            return []
        playing, self.playing = self.playing, None
        return [StopPlayback(playing)]

    def finished(self, playback_id: str) -> bool:
        """True if this was the prompt in progress (now over)."""
        if playback_id != self.playing:
            return False
        self.playing = None
        return True
