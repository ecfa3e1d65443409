"""An example CRM speaking the OMniLeads "customer identification" protocol.

Copy it and replace ``lookup()`` with a query to your own CRM. Python standard library only.

The protocol
============

The IVR (ours or OMniLeads) asks, once per call, whether it knows the caller::

    POST /identify HTTP/1.1
    User-Agent: OMniLeads
    Content-Type: application/x-www-form-urlencoded
    Authorization: Bearer <token>          (only if configured on the IVR)

    idContact=1234&callerId=600123456&did=900100200

``idContact`` is the number the caller typed (digits only). ``callerId`` (the caller's number)
and ``did`` (the number dialled) are optional extras our IVR adds when configured; OMniLeads
sends ``idContact`` alone.

The answer is always HTTP 200 with a JSON object (anything else counts as "CRM unavailable")::

    {"status": "ok", "destination": "true"}     interaction "true-false": known customer
    {"status": "ok", "destination": "false"}    unknown customer (either interaction)
    {"status": "ok", "destination": "3,1"}      interaction "destination": go to X,Y
    {"status": "fail"}                          an error on the CRM's side

In "X,Y", X is a destination type (1 inbound campaign, 2 time condition, 3 IVR menu, 5 hang-up,
9 identification) and Y the id of a destination configured in the IVR's flow file.

Our IVR (not OMniLeads) also takes an optional ``"variables"`` object, set on the call as
channel variables ``IVR_CRM_<KEY>`` (``"name"`` becomes ``IVR_CRM_NAME``): at most 20 keys
matching ``[a-z][a-z0-9_]{0,30}``, values strings of at most 200 printable characters::

    {"status": "ok", "destination": "1,1", "variables": {"name": "Ana", "priority": "1"}}

Try it::

    python examples/crm/crm_server.py --port 8900 --customers examples/crm/customers.json
    curl -s -A OMniLeads -d idContact=1234 http://127.0.0.1:8900/identify

(``curl -d`` sends ``Content-Type: application/x-www-form-urlencoded``.) Any path works: the
server answers the same on ``/identify`` or ``/``.
"""

from __future__ import annotations

import argparse
import hmac
import json
import re
import signal
import sys
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, NoReturn
from urllib.parse import parse_qs

MAX_BODY = 4096  # an identification request is a few dozen bytes
ID_CONTACT = re.compile(r"[0-9]{1,32}", re.ASCII)
DESTINATION = re.compile(r"[0-9]{1,9},[0-9]{1,9}", re.ASCII)
VARIABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,30}", re.ASCII)


@dataclass(frozen=True)
class Customer:
    """What the CRM knows about one customer: where to send the call, what to tell the agent."""

    destination: str  # "X,Y"
    variables: dict[str, str]  # set on the call as IVR_CRM_<NAME>


# --- The CRM side: replace this with your own lookup -------------------------------------------

def load_customers(path: Path) -> dict[str, Customer]:
    """``{"1234": {"destination": "1,1", "variables": {"name": "Ana"}}, ...}``, checked up front
    so that a mistake in the file stops the server instead of confusing the IVR later."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("the file must hold a JSON object of idContact -> customer")
    customers = {}
    for id_contact, entry in data.items():
        where = f"customer {id_contact!r}"
        if not ID_CONTACT.fullmatch(id_contact):
            raise ValueError(f"{where}: idContact must be digits")
        if not isinstance(entry, dict) or not set(entry) <= {"destination", "variables"}:
            raise ValueError(f'{where}: expected {{"destination": "X,Y", "variables": {{...}}}}')
        destination = entry.get("destination")
        if not isinstance(destination, str) or not DESTINATION.fullmatch(destination):
            raise ValueError(f'{where}: destination must be "X,Y", got {destination!r}')
        customers[id_contact] = Customer(destination, check_variables(where, entry.get("variables", {})))
    return customers


def check_variables(where: str, variables: Any) -> dict[str, str]:
    """The limits our IVR enforces: it would refuse the whole answer otherwise."""
    if not isinstance(variables, dict) or len(variables) > 20:
        raise ValueError(f"{where}: variables must be an object of at most 20 entries")
    for name, value in variables.items():
        if not VARIABLE_NAME.fullmatch(name):
            raise ValueError(f"{where}: variable name {name!r} must match [a-z][a-z0-9_]{{0,30}}")
        if not isinstance(value, str) or len(value) > 200 or not value.isprintable():
            raise ValueError(f"{where}: variable {name!r} must be a printable string of <= 200 chars")
    return dict(variables)


def lookup(customers: dict[str, Customer], id_contact: str) -> Customer | None:
    """Your CRM query goes here. Answer fast: past the IVR's deadline (a few seconds) the call
    goes on as if the CRM were down."""
    return customers.get(id_contact)


# --- The protocol side ---------------------------------------------------------------------------

class IdentifyHandler(BaseHTTPRequestHandler):
    # Set by main() before serving.
    customers: ClassVar[dict[str, Customer]] = {}
    mode: ClassVar[str] = "destination"  # or "true-false": the node's `interaction` in the flow file
    token: ClassVar[str] = ""  # empty: no Authorization required
    started = 0.0  # per request, for the log line

    def do_POST(self) -> None:
        self.started = time.monotonic()
        body = self.read_body()
        if body is None:
            return
        if self.token and not self.authorized():
            return self.reply(401, {"status": "fail"}, "bad or missing Authorization",
                              {"WWW-Authenticate": "Bearer"})
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return self.reply(415, {"status": "fail"}, f"Content-Type {content_type!r}")
        try:
            form = parse_qs(body.decode("ascii"), keep_blank_values=True)  # a form is ASCII
        except ValueError:
            return self.reply(400, {"status": "fail"}, "body is not a form")
        ids = form.get("idContact", [])
        if len(ids) != 1 or not ID_CONTACT.fullmatch(ids[0]):
            return self.reply(400, {"status": "fail"}, f"idContact must be digits, got {ids!r:.40}")
        id_contact = ids[0]
        # Optional extras (our IVR, when configured): use them if your CRM can.
        caller_id = form.get("callerId", [""])[0]
        did = form.get("did", [""])[0]

        customer = lookup(self.customers, id_contact)
        answer: dict[str, Any] = {"status": "ok"}
        if customer is None:
            answer["destination"] = "false"
        else:
            answer["destination"] = customer.destination if self.mode == "destination" else "true"
            if customer.variables:
                answer["variables"] = customer.variables
        extras = "".join(f" {name}={value!r:.30}" for name, value in
                         (("callerId", caller_id), ("did", did)) if value)
        self.reply(200, answer, f"idContact={id_contact}{extras} -> {answer['destination']}")

    def read_body(self) -> bytes | None:
        """The whole body (always read, so the client never sees its request cut), or None."""
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.reply(413 if length > MAX_BODY else 400, {"status": "fail"},
                       f"Content-Length {self.headers.get('Content-Length')!r:.20}")
            return None
        return self.rfile.read(length)

    def authorized(self) -> bool:
        expected = f"Bearer {self.token}".encode()
        given = self.headers.get("Authorization", "").encode("utf-8", "replace")
        return hmac.compare_digest(given, expected)  # constant time: the token is a secret

    def refuse_method(self) -> None:
        self.started = time.monotonic()
        self.reply(405, {"status": "fail"}, "only POST", {"Allow": "POST"})

    do_GET = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = refuse_method

    def reply(self, status: int, answer: dict[str, Any], note: str,
              headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        took = (time.monotonic() - self.started) * 1000
        # One line per request, written before the answer: a client that has its answer finds
        # it in the log even if the server is stopped right after. Never the Authorization header.
        path = "".join(c if c.isprintable() else "?" for c in self.path[:80])
        self.log_message("%s %s %d %.1fms %s", self.command, path, status, took, note)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None  # reply() logs instead, with the outcome

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.log_date_time_string()} {self.client_address[0]} {format % args}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8900, help="0 picks a free port (default 8900)")
    parser.add_argument("--customers", type=Path, default=Path(__file__).with_name("customers.json"))
    parser.add_argument("--mode", choices=["destination", "true-false"], default="destination",
                        help="the interaction of the identification node (default destination)")
    parser.add_argument("--token-file", type=Path,
                        help="require 'Authorization: Bearer <the file's content>'")
    args = parser.parse_args(argv)

    try:
        IdentifyHandler.customers = load_customers(args.customers)
        token = args.token_file.read_text(encoding="utf-8").strip() if args.token_file else ""
    except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        parser.error(str(exc))
    if args.token_file and not (token and token.isprintable()):
        parser.error(f"{args.token_file}: the token must be one non-empty line")
    IdentifyHandler.mode = args.mode
    IdentifyHandler.token = token

    def stop(signum: int, frame: object) -> NoReturn:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)  # a clean exit on `kill`, as on Ctrl-C
    try:
        server = ThreadingHTTPServer((args.host, args.port), IdentifyHandler)
    except OSError as exc:  # port in use, unknown address
        parser.error(f"cannot listen on {args.host}:{args.port}: {exc}")
    with server:
        host, port = server.server_address[:2]
        print(f"listening on {host!s}:{port}", flush=True)  # first line: tools read the port here
        print(f"{len(IdentifyHandler.customers)} customers, mode {args.mode}, "
              f"token {'required' if token else 'not required'}", file=sys.stderr, flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
