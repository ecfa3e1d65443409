"""The servers ivr opens (the agents' API, FastAGI): a port it cannot listen on is named with
the setting that chose it."""

from __future__ import annotations


class PortTaken(Exception):
    def __init__(self, setting: str, bind: str, port: int, exc: OSError) -> None:
        env = "IVR_" + setting.upper().replace(".", "__")
        super().__init__(f"{setting}: cannot listen on {bind}:{port}: {exc.strerror or exc} "
                         f"(another program there? choose another port: {setting} or {env})")
