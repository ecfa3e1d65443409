"""An example backend for a campaign with ``mode = "backend"``: it runs its own line of callers and
gives each to the operator idle longest, and marks operators who do not answer. Python standard
library only; docs/backend.md describes the protocol.

    IVR_BACKEND_SECRET=... python3 backend.py --port 8700 --operators ana,bo [--delay 5] [--log events.jsonl]

- ``POST /calls``: ivr hands over a call (its data and ``control_url``); it joins the line.
- ``POST /events``: ivr reports what happened to a call; each event is logged once by its id.
- Every 0.2 s, the first caller whose ``--delay`` has passed is connected to the operator idle
  longest (``POST <control_url>`` with a ``connect`` command). An operator whose phone did not
  answer (event ``failed``) is left out for ``--penalty`` seconds and the caller is offered again.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environ.get("IVR_BACKEND_SECRET", "")
lock = threading.Lock()
line: dict[str, dict] = {}          # call id -> {"control_url", "since", "tries"}, in arrival order
idle_since: dict[str, float] = {}   # free operator -> since when
busy: dict[str, str] = {}           # operator -> call id
down_until: dict[str, float] = {}   # operator -> left out until
seen: set[str] = set()              # event ids already handled


def signed(headers, body: bytes) -> bool:
    """The request comes from ivr: HMAC-SHA256 of "<timestamp>.<body>", recent."""
    stamp, signature = headers.get("X-Ivr-Timestamp", ""), headers.get("X-Ivr-Signature", "")
    digest = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    recent = stamp.isdigit() and abs(time.time() - int(stamp)) < 300
    return recent and hmac.compare_digest("sha256=" + digest, signature)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not signed(self.headers, body):
            self.send_response(403)
            self.end_headers()
            return
        data = json.loads(body)
        with lock:
            if self.path == "/calls":
                line[data["call"]] = {"control_url": data["control_url"], "since": time.time(), "tries": 0}
            elif self.path == "/events" and data["id"] not in seen:
                seen.add(data["id"])
                on_event(data)
                if args.log:
                    with open(args.log, "a") as log:
                        log.write(json.dumps({**data, "signature_ok": True}) + "\n")
        self.send_response(202 if self.path == "/calls" else 200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def on_event(event: dict) -> None:
    call, operator = event["call"], event.get("to", "")
    if event["type"] == "failed":
        busy.pop(operator, None)
        idle_since[operator] = time.time()
        down_until[operator] = time.time() + args.penalty
        if call in line:                      # offered again at once, to someone else
            line[call].update(since=0, ringing=False)
    elif event["type"] == "bridged":
        line.pop(call, None)
    elif event["type"] in ("hung_up", "left"):
        line.pop(call, None)
        for name, holding in list(busy.items()):
            if holding == call:
                del busy[name]
                idle_since[name] = time.time()


def decide() -> None:
    while True:
        time.sleep(0.2)
        with lock:
            now = time.time()
            free = sorted((since, name) for name, since in idle_since.items()
                          if name not in busy and down_until.get(name, 0) <= now)
            waiting = [(call, c) for call, c in line.items()
                       if not c.get("ringing") and now - c["since"] >= args.delay]
            if not free or not waiting:
                continue
            (call, entry), (_, operator) = waiting[0], free[0]
            entry["tries"] += 1
            entry["ringing"] = True
            busy[operator] = call
        command = {"id": f"{call}-{entry['tries']}", "command": "connect", "agent": operator}
        status = post(entry["control_url"], command)
        with lock:
            if status == 410:                 # the caller hung up meanwhile
                line.pop(call, None)
            if status != 202:
                busy.pop(operator, None)
                entry["ringing"] = False


def post(url: str, payload: dict) -> int:
    request = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8700)
    parser.add_argument("--operators", default="ana,bo", help="ivr agent ids, comma-separated")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before a caller is connected")
    parser.add_argument("--penalty", type=float, default=60.0,
                        help="seconds an operator who did not answer is left out")
    parser.add_argument("--log", default="", help="append each event (once per id) to this file")
    args = parser.parse_args()
    if len(SECRET) < 16:
        raise SystemExit("set IVR_BACKEND_SECRET (the campaign's backend_secret_env), at least 16 characters")
    operators = [name for name in args.operators.split(",") if name]
    # The first listed has been idle longest.
    idle_since.update({name: time.time() - len(operators) + index for index, name in enumerate(operators)})
    threading.Thread(target=decide, daemon=True).start()
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
