"""examples/crm/crm_server.py, run as a developer would run it, answers what the IVR expects."""

from __future__ import annotations

import json
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from ivr.core.crm_answer import Answer, Identified, Interaction, NotIdentified, Routed
from ivr.crm.protocol import parse_answer

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "crm" / "crm_server.py"
CUSTOMERS = SCRIPT.with_name("customers.json")
TOKEN = "s3cret-token"
OMNILEADS = {"User-Agent": "OMniLeads"}
FORM = {**OMNILEADS, "Content-Type": "application/x-www-form-urlencoded"}


class Server:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url
        self.log = ""

    def stop(self) -> str:
        """Its stderr, once it has exited."""
        if self.proc.poll() is None:
            self.proc.terminate()
            _, self.log = self.proc.communicate(timeout=5)
        return self.log


@contextmanager
def running(*args: str) -> Iterator[Server]:
    command = [sys.executable, str(SCRIPT), "--port", "0", "--customers", str(CUSTOMERS), *args]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        server = Server(proc, "")
        try:
            ready, _, _ = select.select([proc.stdout], [], [], 10)
            line = proc.stdout.readline() if ready else ""
            match = re.fullmatch(r"listening on 127\.0\.0\.1:([0-9]+)\n", line)
            assert match, f"first line {line!r}; stderr: {server.stop()}"
            server.url = f"http://127.0.0.1:{match.group(1)}/identify"
            yield server
        finally:
            server.stop()
        assert proc.returncode == 0, server.log  # SIGTERM is a clean exit


@pytest.fixture(scope="module")
def destination() -> Iterator[Server]:
    with running("--mode", "destination") as server:
        yield server


@pytest.fixture(scope="module")
def true_false() -> Iterator[Server]:
    with running("--mode", "true-false") as server:
        yield server


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crm") / "token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture(scope="module")
def secured(token_file: Path) -> Iterator[Server]:
    with running("--token-file", str(token_file)) as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5, follow_redirects=False) as client:
        yield client


def variables_of(answer: Answer) -> dict[str, str]:
    """The variables the app took from the answer, as a dict."""
    return dict(getattr(answer, "variables", ()))


def customers() -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = json.loads(CUSTOMERS.read_text(encoding="utf-8"))
    return data


def test_the_example_customers_are_the_documented_ones() -> None:
    data = customers()

    assert data["1234"] == {"destination": "1,1", "variables": {"name": "Ana Pérez", "priority": "1"}}
    assert data["5678"]["destination"] == "3,1"
    assert data["4321"] == {"destination": "5,1"}


@pytest.mark.parametrize("id_contact", sorted(customers()))
def test_destination_mode_routes_each_known_customer(destination: Server, http: httpx.Client,
                                                     id_contact: str) -> None:
    customer = customers()[id_contact]

    response = http.post(destination.url, data={"idContact": id_contact}, headers=OMNILEADS)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    expected = {"status": "ok", "destination": customer["destination"]}
    if "variables" in customer:
        expected["variables"] = customer["variables"]
    assert response.json() == expected
    x, y = str(customer["destination"]).split(",")
    answer = parse_answer(response.content, Interaction.DESTINATION)
    assert isinstance(answer, Routed) and (answer.type_code, answer.destination_id) == (int(x), int(y))
    assert variables_of(answer) == customer.get("variables", {})


@pytest.mark.parametrize("id_contact", ["9999", "01234", "12345"])
def test_destination_mode_answers_false_for_an_unknown_customer(destination: Server, http: httpx.Client,
                                                                id_contact: str) -> None:
    response = http.post(destination.url, data={"idContact": id_contact}, headers=OMNILEADS)

    assert (response.status_code, response.json()) == (200, {"status": "ok", "destination": "false"})
    answer = parse_answer(response.content, Interaction.DESTINATION)
    assert isinstance(answer, NotIdentified) and variables_of(answer) == {}


def test_the_optional_extras_are_accepted(destination: Server, http: httpx.Client) -> None:
    body = b"idContact=4321&callerId=%2B34+600123456&did=900100200"

    response = http.post(destination.url, content=body, headers=FORM)

    assert (response.status_code, response.json()) == (200, {"status": "ok", "destination": "5,1"})


def test_any_path_and_a_charset_are_fine(destination: Server, http: httpx.Client) -> None:
    headers = {"Content-Type": "Application/X-WWW-Form-Urlencoded; charset=UTF-8"}

    response = http.post(destination.url.replace("/identify", "/"), content=b"idContact=4321",
                         headers=headers)

    assert (response.status_code, response.json()) == (200, {"status": "ok", "destination": "5,1"})


def test_true_false_mode(true_false: Server, http: httpx.Client) -> None:
    known = http.post(true_false.url, data={"idContact": "1234"}, headers=OMNILEADS)
    unknown = http.post(true_false.url, data={"idContact": "9999"}, headers=OMNILEADS)

    assert known.status_code == unknown.status_code == 200
    assert known.json() == {"status": "ok", "destination": "true",
                            "variables": {"name": "Ana Pérez", "priority": "1"}}
    assert unknown.json() == {"status": "ok", "destination": "false"}
    answer = parse_answer(known.content, Interaction.TRUE_FALSE)
    assert isinstance(answer, Identified)
    assert variables_of(answer) == {"name": "Ana Pérez", "priority": "1"}
    assert isinstance(parse_answer(unknown.content, Interaction.TRUE_FALSE), NotIdentified)


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer wrong", f"bearer {TOKEN}", f"Bearer {TOKEN}x",
    f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", f"Bearer  {TOKEN}",
])
def test_a_token_file_requires_the_exact_bearer_header(secured: Server, http: httpx.Client,
                                                       authorization: str | None) -> None:
    headers = dict(OMNILEADS) if authorization is None else {**OMNILEADS, "Authorization": authorization}

    response = http.post(secured.url, data={"idContact": "1234"}, headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"status": "fail"}


def test_the_right_token_is_let_in(secured: Server, http: httpx.Client) -> None:
    headers = {**OMNILEADS, "Authorization": f"Bearer {TOKEN}"}

    response = http.post(secured.url, data={"idContact": "1234"}, headers=headers)

    assert response.status_code == 200 and response.json()["destination"] == "1,1"


def test_without_the_token_nothing_is_validated_or_revealed(secured: Server, http: httpx.Client) -> None:
    response = http.post(secured.url, content=b"{}", headers={"Content-Type": "application/json"})

    assert response.status_code == 401


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_only_post(destination: Server, http: httpx.Client, method: str) -> None:
    response = http.request(method, destination.url, headers=OMNILEADS)

    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.json() == {"status": "fail"}


def test_head_is_refused_without_a_body(destination: Server, http: httpx.Client) -> None:
    response = http.head(destination.url)

    assert (response.status_code, response.content) == (405, b"")


@pytest.mark.parametrize("headers", [
    {"Content-Type": "application/json"},
    {"Content-Type": "text/plain"},
    {"Content-Type": "multipart/form-data; boundary=x"},
    {},
])
def test_only_a_form(destination: Server, http: httpx.Client, headers: dict[str, str]) -> None:
    response = http.post(destination.url, content=b"idContact=1234", headers={**OMNILEADS, **headers})

    assert response.status_code == 415
    assert response.json() == {"status": "fail"}


@pytest.mark.parametrize("body", [
    b"", b"idContact=", b"idcontact=1234", b"id=1234", b"idContact=12a4", b"idContact=-1",
    b"idContact=1234&idContact=5678", b"idContact=%EF%BC%91%EF%BC%92",  # fullwidth digits
    b"idContact=1234%0A", b"idContact=" + b"1" * 33, b"idContact=\xff1234",
])
def test_idcontact_must_be_one_string_of_digits(destination: Server, http: httpx.Client,
                                                body: bytes) -> None:
    response = http.post(destination.url, content=body, headers=FORM)

    assert response.status_code == 400
    assert response.json() == {"status": "fail"}


def test_an_oversized_body_is_refused(destination: Server, http: httpx.Client) -> None:
    response = http.post(destination.url, content=b"idContact=1234&pad=" + b"x" * 5000, headers=FORM)

    assert response.status_code == 413


def test_one_log_line_per_request_and_never_the_token(token_file: Path, http: httpx.Client) -> None:
    with running("--token-file", str(token_file)) as server:
        authorized = {**OMNILEADS, "Authorization": f"Bearer {TOKEN}"}
        http.post(server.url, data={"idContact": "1234", "callerId": "600123456"}, headers=authorized)
        http.post(server.url, data={"idContact": "1234"}, headers={"Authorization": "Bearer guess"})
        http.get(server.url)
        log = server.stop().splitlines()

    assert len(log) == 4, log  # the startup line, then one per request
    assert "4 customers, mode destination, token required" in log[0]
    requests = log[1:]  # each written as its request ends, so not always in the order sent
    for pattern in (r"POST /identify 200 .* idContact=1234 callerId='600123456' -> 1,1$",
                    r"POST /identify 401 .* bad or missing Authorization$", r"GET /identify 405 "):
        assert sum(bool(re.search(pattern, line)) for line in requests) == 1, (pattern, requests)
    assert not any(TOKEN in line or "guess" in line for line in log)


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "Expecting value"),
    ('["1234"]', "JSON object"),
    ('{"12a": {"destination": "1,1"}}', "idContact must be digits"),
    ('{"1": {"destination": "1;1"}}', 'destination must be "X,Y"'),
    ('{"1": {"destination": 11}}', 'destination must be "X,Y"'),
    ('{"1": {"destination": "1,1", "extra": 1}}', "expected"),
    ('{"1": {"destination": "1,1", "variables": {"Name": "x"}}}', "variable name 'Name'"),
    ('{"1": {"destination": "1,1", "variables": {"name": 1}}}', "printable string"),
    ('{"1": {"destination": "1,1", "variables": {"name": "a\\nb"}}}', "printable string"),
    ('{"1": {"destination": "1,1", "variables": {"name": "' + "x" * 201 + '"}}}', "printable string"),
    ('{"1": {"destination": "1,1", "variables": {' + ", ".join(f'"v{i}": ""' for i in range(21)) + "}}}",
     "at most 20"),
])
def test_a_bad_customers_file_stops_the_server_at_once(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "customers.json"
    path.write_text(content)

    done = subprocess.run([sys.executable, str(SCRIPT), "--port", "0", "--customers", str(path)],
                          capture_output=True, text=True, timeout=10, check=False)

    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("token", ["", "\n", "two\nlines"])
def test_a_token_file_must_hold_one_token(tmp_path: Path, token: str) -> None:
    path = tmp_path / "token"
    path.write_text(token)

    done = subprocess.run([sys.executable, str(SCRIPT), "--port", "0", "--token-file", str(path)],
                          capture_output=True, text=True, timeout=10, check=False)

    assert done.returncode == 2 and "the token must be one non-empty line" in done.stderr, done.stderr


def test_a_busy_port_is_a_clear_error(destination: Server) -> None:
    port = destination.url.split(":")[2].split("/")[0]

    done = subprocess.run([sys.executable, str(SCRIPT), "--port", port],
                          capture_output=True, text=True, timeout=10, check=False)

    assert done.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in done.stderr, done.stderr
