"""A real HTTP CRM on 127.0.0.1 for tests: each path misbehaves in its own way."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs

HOSTILE_VARIABLES = {"note": 'a,b "q" \\ (x) [y] {z} ${EXTEN} $[1+1] ; | \' ñ,', "empty": "", "tail": "end\\"}
"""Values that Asterisk's argument parsing would split, unquote or expand if sent carelessly."""
DESTINATIONS = {
    "1111": '"1,1", "variables": {"name": "Ana", "priority": "1"}',  # campaign gold
    "2222": '"3,1"',  # menu main
    "3333": '"1,99"',  # no such campaign
    "4444": '"false"',
    "5555": '"5,1"',  # hang-up node
    "6666": '"7,1"',  # no such type
    "1357": '"1,1"',  # campaign gold, keys that SIPp's captures can send (no repeats)
    "2468": '"1,1", "variables": {"agent": "bo", "priority": "1"}',  # with the customer's own agent
    "1122": '"1,1", "variables": ' + json.dumps(HOSTILE_VARIABLES),
}


class CrmHandler(BaseHTTPRequestHandler):
    """Paths: /dest and /tf answer by customer, the others each fail in their own way."""

    seen: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def log_message(self, *args: object) -> None:
        return None

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        CrmHandler.seen.append((self.path, dict(self.headers), body))
        route = {
            "/gold": (200, b'{"status": "ok", "destination": "1,3"}'),
            "/known": (200, b'{"status": "ok", "destination": "true"}'),
            "/error": (503, b"down for maintenance"),
            "/garbage": (200, b"<html>not json</html>"),
            "/fail": (200, b'{"status": "fail", "destination": "1,1"}'),
            "/team": (200, b'{"agents": ["bo@example.com", "ana"]}'),
            "/team-garbage": (200, b'{"agents": "everyone"}'),
            "/huge": (200, b'{"status": "ok", "destination": "' + b"x" * 70_000 + b'"}'),
        }
        customer = parse_qs(body.decode()).get("idContact", [""])[0]
        if self.path == "/dest":
            answer = DESTINATIONS.get(customer, '"false"')
            return self._send(200, f'{{"status": "ok", "destination": {answer}}}'.encode())
        if self.path == "/tf":
            answer = "true" if customer == "1234" else "false"
            return self._send(200, f'{{"status": "ok", "destination": "{answer}"}}'.encode())
        if self.path.startswith("/slow"):
            time.sleep(float(self.path.partition("?")[2] or 2))
            return self._send(200, b'{"status": "ok", "destination": "true"}')
        if self.path.startswith("/deep"):
            time.sleep(float(self.path.partition("?")[2] or 0))
            return self._send(200, b'{"status": "ok", "destination": ' + b"[" * 20_000 + b"]" * 20_000 + b"}")
        if self.path == "/drip":
            return self._drip()
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/gold")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        status, payload = route.get(self.path, (404, b"no such path"))
        return self._send(status, payload)

    def _send(self, status: int, payload: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the app gave up on a slow answer, as it should

    def _drip(self) -> None:
        """Headers at once, then one byte every 0.3 s: each read is quick, the whole is not."""
        payload = b'{"status": "ok", "destination": "true"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        for byte in payload:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(0.3)


class FakeCrm:
    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), CrmHandler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

