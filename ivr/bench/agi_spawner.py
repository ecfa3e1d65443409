"""The FastAGI server of the benchmark's AGI way: for each connection from Asterisk it starts
a new Python process running ``agi_script.py`` with the socket as its stdin and stdout, like
Asterisk's own ``AGI(script)`` does with a pipe (the bundled Asterisk runs in a chroot without
Python). The scripts' CPU time is counted in this process's children time once each ends."""

from __future__ import annotations

import argparse
import socketserver
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("agi_script.py")


class Spawner(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, crm_url: str) -> None:
        self.crm_url = crm_url
        super().__init__(("127.0.0.1", port), PerCall)


class PerCall(socketserver.BaseRequestHandler):
    server: Spawner

    def handle(self) -> None:
        connection = self.request.fileno()
        subprocess.run([sys.executable, str(SCRIPT), self.server.crm_url], stdin=connection,
                       stdout=connection, check=False, timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--crm-url", required=True)
    args = parser.parse_args()
    with Spawner(args.port, args.crm_url) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
