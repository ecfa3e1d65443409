"""Flow files: what a valid one gives, and how each mistake is reported (file:line, node, field)."""

from __future__ import annotations

import re
import textwrap
from importlib.resources import as_file, files
from pathlib import Path

import pytest

from ivr.config_file import ConfigError
from ivr.core.crm_answer import Interaction
from ivr.core.destinations import Destination
from ivr.core.flow import Flow
from ivr.core.nodes import (
    NODE_KINDS,
    Campaign,
    Dialplan,
    External,
    HangupNode,
    Identification,
    Menu,
    Message,
    TimeCondition,
    Voicemail,
)
from ivr.flow_file import load_flow

ENVIRON = {"CRM_AUTHORIZATION": "Bearer secret"}

FULL = """\
# Calls to 100 ask for a customer ID; the company number checks the office hours.
[entry]
"100" = "identification:customer"
"+34910000000" = "time:office"
default = "menu:main"

[identification.customer]
id = 1
prompt = ["sound:ivr/enter-customer-id"]
expected_length = 8
terminator = "*"
attempts = 2
timeout = 6
inter_digit_timeout = 2.5
confirm = true
interaction = "destination"
url = "https://crm.example.com/identify"
user_agent = "Acme IVR"
authorization_env = "CRM_AUTHORIZATION"
send_caller = true
deadline = 2
hold_prompt = ["sound:ivr/one-moment"]
hold_music = "crm"
on_identified = "campaign:sales"
on_not_identified = "menu:main"
on_unavailable = "message:sorry"

[campaign.sales]
id = 11

[campaign.support]
id = 12

[time.office]
id = 2
timezone = "Europe/Madrid"
open = ["office"]
closed = ["holidays"]
on_match = "menu:main"
otherwise = "message:closed"

[[timegroup.office]]
days = "mon-thu"
hours = "09:00-18:00"

[[timegroup.office]]
days = "fri"
hours = "08:00-15:00"

[[timegroup.holidays]]
dates = ["01-01", "12-25", "2026-04-03"]

[menu.main]
id = 3
prompt = ["sound:ivr/main-menu"]
timeout = 4
attempts = 2
on_failure = "hangup"

[menu.main.options]
"1" = "campaign:sales"
"2" = "campaign:support"
"3" = "voicemail:sales"
"4" = "dialplan:operator"
"5" = "external:mobile"
"*" = "menu:main"
"0" = "hangup:busy"

[hangup.busy]
id = 5
prompt = ["sound:ivr/all-busy"]
cause = "busy"

[message.sorry]
prompt = ["sound:ivr/sorry", "sound:ivr/try-later"]
then = "menu:main"

[message.closed]
prompt = ["sound:ivr/closed"]

[voicemail.sales]
box = "100@sales"

[dialplan.operator]
context = "from-ivr"
exten = "200"
priority = 2

[external.mobile]
trunk = "provider"
number = "+34600111222"

[trunk.provider]
dial = "PJSIP/{number}@provider"
allow = ["+34*", "sip:*"]
timeout = 30
"""

MINIMAL = """\
[entry]
default = "message:hello"

[message.hello]
prompt = ["sound:hello"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flows.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> Flow:
    return load_flow(write(tmp_path, text), ENVIRON)


def problems(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    """The problems of a refused file, with its path shortened to flows.toml."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_flow(path, ENVIRON if environ is None else environ)
    return [str(problem).replace(str(path), "flows.toml") for problem in caught.value.problems]


# A valid file


def test_a_full_flow_loads_every_node(tmp_path: Path) -> None:
    flow = load(tmp_path, FULL)

    assert {str(d): type(node) for d, node in flow.nodes.items()} == {
        "identification:customer": Identification,
        "campaign:sales": Campaign,
        "campaign:support": Campaign,
        "time:office": TimeCondition,
        "menu:main": Menu,
        "hangup:busy": HangupNode,
        "message:sorry": Message,
        "message:closed": Message,
        "voicemail:sales": Voicemail,
        "dialplan:operator": Dialplan,
        "external:mobile": External,
    }
    assert flow.source == str(tmp_path / "flows.toml")


def test_a_full_flow_reads_every_field(tmp_path: Path) -> None:
    flow = load(tmp_path, FULL)
    customer = flow.nodes[Destination("identification", "customer")]
    menu = flow.nodes[Destination("menu", "main")]

    assert isinstance(customer, Identification)
    assert (customer.expected_length, customer.terminator, customer.attempts) == (8, "*", 2)
    assert (customer.timeout, customer.inter_digit_timeout, customer.deadline) == (6.0, 2.5, 2.0)
    assert customer.interaction is Interaction.DESTINATION
    assert customer.confirm and customer.send_caller
    assert customer.hold_prompt == ("sound:ivr/one-moment",)
    assert customer.failure == Destination("message", "sorry")
    assert customer.invalid_prompt == ("sound:ivr/invalid-entry",)  # a default
    assert isinstance(menu, Menu)
    assert menu.options["*"] == Destination("menu", "main")
    assert menu.options["0"] == Destination("hangup", "busy")
    assert menu.on_failure == Destination("hangup", "")


def test_entries_by_exact_number_then_default(tmp_path: Path) -> None:
    flow = load(tmp_path, FULL)

    assert flow.entry("100") == Destination("identification", "customer")
    assert flow.entry("+34910000000") == Destination("time", "office")
    assert flow.entry("999") == Destination("menu", "main")
    assert flow.entry("") == Destination("menu", "main")


def test_crm_codes_name_nodes_by_kind_and_id(tmp_path: Path) -> None:
    flow = load(tmp_path, FULL)

    assert flow.by_code(1, 11) == Destination("campaign", "sales")
    assert flow.by_code(1, 12) == Destination("campaign", "support")
    assert flow.by_code(2, 2) == Destination("time", "office")
    assert flow.by_code(3, 3) == Destination("menu", "main")
    assert flow.by_code(5, 5) == Destination("hangup", "busy")
    assert flow.by_code(9, 1) == Destination("identification", "customer")
    assert flow.by_code(1, 3) is None  # 3 is the menu's id, not a campaign's
    assert flow.by_code(1, 99) is None
    assert flow.by_code(4, 1) is None  # no kind has code 4
    assert flow.node_id(Destination("campaign", "sales")) == 11
    assert flow.node_id(Destination("message", "sorry")) is None


def test_the_documented_kinds_and_codes_are_the_node_kinds() -> None:
    flows_md = (Path(__file__).parents[2] / "docs" / "flows.md").read_text()
    codes_table = flows_md.split("## Destinations and their codes")[1].split("###")[0]
    documented = re.findall(r"^\| `([a-z]+)` \| ([0-9]+|—) \|", codes_table, re.MULTILINE)
    sections = re.findall(r"^### `([a-z]+)`: ", flows_md, re.MULTILINE)

    assert documented == [(kind, "—" if k.code is None else str(k.code)) for kind, k in NODE_KINDS.items()]
    assert sorted(sections) == sorted(NODE_KINDS)


def test_the_fields_documented_as_required_are_the_ones_a_node_cannot_go_without() -> None:
    """docs/flows.md once called on_identified required with interaction = "destination" too."""
    flows_md = (Path(__file__).parents[2] / "docs" / "flows.md").read_text()
    for section in re.split(r"^### `", flows_md, flags=re.MULTILINE)[1:]:
        kind = section.split("`", 1)[0]
        if kind not in NODE_KINDS:
            continue
        documented = set(re.findall(r"^\| `([a-z_]+)` \| \*required\* \|", section, re.MULTILINE))
        model = NODE_KINDS[kind].model
        assert documented == {name for name, f in model.model_fields.items() if f.is_required()}, kind


def test_time_groups_trunks_and_zones(tmp_path: Path) -> None:
    flow = load(tmp_path, FULL)

    assert len(flow.timegroups["office"]) == 2
    assert len(flow.timegroups["holidays"]) == 1
    assert flow.trunks["provider"].timeout == 30
    assert flow.trunks["provider"].allows("+34600111222")
    assert not flow.trunks["provider"].allows("+33600111222")
    assert flow.trunks["provider"].allows("sip:agent@example.com")
    assert str(flow.zones["Europe/Madrid"]) == "Europe/Madrid"


def test_the_bundled_demo_flow_loads() -> None:
    with as_file(files("ivr") / "flows" / "demo.toml") as path:
        flow = load_flow(path, {})

    demo = flow.nodes[Destination("identification", "demo")]
    assert flow.entry("anything") == Destination("identification", "demo")
    assert isinstance(demo, Identification)
    assert demo.interaction is Interaction.NONE
    assert demo.on_identified == Destination("message", "thanks")


def test_hangup_alone_is_a_destination_without_a_node(tmp_path: Path) -> None:
    flow = load(tmp_path, """\
        [entry]
        "100" = "hangup"
        """)

    assert flow.entry("100") == Destination("hangup", "")
    assert str(flow.entry("100")) == "hangup"


def test_the_authorization_variable_must_be_set_only_when_named(tmp_path: Path) -> None:
    text = MINIMAL + """
[identification.customer]
interaction = "true-false"
url = "http://crm.local/identify"
authorization_env = "CRM_AUTHORIZATION"
on_identified = "hangup"
on_not_identified = "hangup"
"""

    assert load_flow(write(tmp_path, text), {"CRM_AUTHORIZATION": "Bearer x"}).nodes
    assert problems(tmp_path, text, environ={}) == [
        "flows.toml:10: [identification.customer] authorization_env: environment variable "
        "CRM_AUTHORIZATION is not set",
    ]
    assert problems(tmp_path, text, environ={"CRM_AUTHORIZATION": ""}) == [
        "flows.toml:10: [identification.customer] authorization_env: environment variable "
        "CRM_AUTHORIZATION is not set",
    ]


# Each kind of problem, with file:line, node and field


def test_unknown_table(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[menus.main]
prompt = ["sound:ivr/main-menu"]

[ari]
url = "http://localhost:8088"
""") == [
        "flows.toml:7: [menus.main]: unknown table (expected one of entry, timegroup, trunk, agent, campaign, "
        "time, menu, hangup, identification, message, voicemail, dialplan, external, callback)",
        "flows.toml:10: [ari]: unknown table (expected one of entry, timegroup, trunk, agent, campaign, "
        "time, menu, hangup, identification, message, voicemail, dialplan, external, callback)",
    ]


def test_unknown_field(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[message.bye]
prompt = ["sound:bye"]
than = "hangup"
""") == ["flows.toml:9: [message.bye] than: unknown field (misspelt?)"]


def test_bad_node_name_is_reported_once(tmp_path: Path) -> None:
    assert problems(tmp_path, """\
[entry]
default = "message:Hello"

[message.Hello]
prompt = ["sound:hello"]

[message."good bye"]
prompt = ["sound:bye"]
""") == [
        "flows.toml:4: [message.Hello]: a name is 1-40 of a-z 0-9 _ - (lower case, no spaces)",
        "flows.toml:7: [message.good bye]: a name is 1-40 of a-z 0-9 _ - (lower case, no spaces)",
    ]


def test_a_node_that_is_not_a_table(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[campaign]
sales = 11
""") == ["flows.toml:8: [campaign.sales]: expected a table [campaign.sales]"]


def test_missing_required_field(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[menu.main]
prompt = ["sound:ivr/main-menu"]
options = { "1" = "message:hello" }
""") == ["flows.toml:7: [menu.main] on_failure: required field missing"]


def test_bad_destination_kind(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[menu.main]
prompt = ["sound:ivr/main-menu"]
options = { "1" = "queue:sales" }
on_failure = "menu"
""") == [
        "flows.toml:9: [menu.main] options.1: unknown kind 'queue' (expected kind:name, kind one of "
        "campaign, time, menu, hangup, identification, message, voicemail, dialplan, external, callback) "
        "(got 'queue:sales')",
        "flows.toml:10: [menu.main] on_failure: expected menu:<name>, got 'menu'",
    ]


def test_a_destination_that_is_not_text(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[message.bye]
prompt = ["sound:bye"]
then = 5
""") == ['flows.toml:9: [message.bye] then: expected a destination "kind:name", e.g. "menu:main" (got 5)']


def test_reference_to_a_missing_node(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[identification.customer]
on_identified = "menu:x"
on_not_identified = "hangup"
on_unavailable = "hangup:x"
""") == [
        "flows.toml:8: [identification.customer] on_identified: no node menu:x in this file",
        "flows.toml:10: [identification.customer] on_unavailable: no node hangup:x in this file",
    ]


def test_no_second_report_for_a_reference_to_an_invalid_node(tmp_path: Path) -> None:
    assert problems(tmp_path, """\
[entry]
"100" = "menu:main"
"200" = "message:bye"

[menu.main]
prompt = ["sound:ivr/main-menu"]
options = { "1" = "message:bye" }
on_failure = "message:bye"

[message.bye]
prompt = []
""") == ["flows.toml:11: [message.bye] prompt: Tuple should have at least 1 item after validation, "
         "not 0 (got [])"]


def test_entry_problems(tmp_path: Path) -> None:
    assert problems(tmp_path, """\
[entry]
"100" = "menu:nowhere"
"sales" = "message:hello"
"200" = "cinema:hello"

[message.hello]
prompt = ["sound:hello"]
""") == [
        "flows.toml:2: [entry] 100: no node menu:nowhere in this file",
        "flows.toml:3: [entry] sales: expected a dialled number (0-9 + * #) or 'default'",
        "flows.toml:4: [entry] 200: unknown kind 'cinema' (expected kind:name, kind one of campaign, "
        "time, menu, hangup, identification, message, voicemail, dialplan, external, callback)",
    ]


def test_duplicate_ids_within_a_kind(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[campaign.sales]
id = 3

[campaign.support]
id = 3

[menu.main]
id = 3
prompt = ["sound:ivr/main-menu"]
options = { "1" = "campaign:sales" }
on_failure = "hangup"
""") == ["flows.toml:11: [campaign.support] id: id 3 is also used by campaign:sales"]


def test_unknown_time_zone_and_missing_time_group(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[time.office]
timezone = "Europe/Springfield"
open = ["office", "weekend"]
closed = ["holidays"]
on_match = "message:hello"
otherwise = "hangup"

[[timegroup.office]]
days = "mon-fri"
""") == [
        "flows.toml:8: [time.office] timezone: unknown time zone 'Europe/Springfield' (e.g. Europe/Madrid)",
        "flows.toml:9: [time.office] open: no time group 'weekend' ([[timegroup.weekend]])",
        "flows.toml:10: [time.office] closed: no time group 'holidays' ([[timegroup.holidays]])",
    ]


def test_time_group_rules(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[[timegroup.office]]
days = "mon-fry"
hours = "9-18"

[[timegroup.office]]
dates = ["12-25", "02-30"]

[[timegroup.office]]
weeks = "1"
""") == [
        "flows.toml:8: [timegroup.office] 0.days: unknown day 'fry' (expected mon, tue, wed, thu, fri, sat, "
        "sun) (got 'mon-fry')",
        "flows.toml:9: [timegroup.office] 0.hours: expected HH:MM-HH:MM, e.g. 09:00-18:00, got '9-18'",
        "flows.toml:12: [timegroup.office] 1.dates: no such date '02-30' (got ['12-25', '02-30'])",
        "flows.toml:15: [timegroup.office] 2.weeks: unknown field (misspelt?)",
    ]


def test_an_empty_time_group_rule(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[[timegroup.office]]
""") == ["flows.toml:7: [timegroup.office] 0: a rule needs days, hours or dates"]


def test_an_invalid_time_group_is_not_reported_again_as_missing(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[time.office]
timezone = "UTC"
open = ["office"]
on_match = "message:hello"
otherwise = "hangup"

[[timegroup.office]]
hours = "9-18"
""") == ["flows.toml:14: [timegroup.office] 0.hours: expected HH:MM-HH:MM, e.g. 09:00-18:00, got '9-18'"]


def test_external_number_outside_the_allow_list_and_unknown_trunk(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[external.paris]
trunk = "provider"
number = "+33100000000"

[external.lost]
trunk = "nowhere"
number = "+34600111222"

[trunk.provider]
dial = "PJSIP/{number}@provider"
allow = ["+34*", "112"]
""") == [
        "flows.toml:9: [external.paris] number: +33100000000 is not in the allow list of trunk provider "
        "(+34*, 112)",
        "flows.toml:12: [external.lost] trunk: no trunk 'nowhere' ([trunk.nowhere])",
    ]


def test_trunk_problems(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[trunk.provider]
dial = "PJSIP/provider"
allow = ["+34*", "34*600"]
""") == [
        "flows.toml:8: [trunk.provider] dial: must contain {number} once, e.g. PJSIP/{number}@provider "
        "(got 'PJSIP/provider')",
        "flows.toml:9: [trunk.provider] allow.1: String should match pattern '^(\\+?[0-9]*\\*?|sip:\\*)$' "
        "(got '34*600')",
    ]


def test_media_with_a_comma_or_without_a_scheme(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[message.bye]
prompt = ["sound:ivr/bye", "sound:a,sound:b", "ivr/bye"]
""") == [
        "flows.toml:8: [message.bye] prompt.1: expected a media URI such as sound:ivr/welcome, "
        "sound:/srv/prompts/hello or digits:123, without commas or spaces (got 'sound:a,sound:b')",
        "flows.toml:8: [message.bye] prompt.2: expected a media URI such as sound:ivr/welcome, "
        "sound:/srv/prompts/hello or digits:123, without commas or spaces (got 'ivr/bye')",
    ]


def test_bad_menu_key(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[menu.main]
prompt = ["sound:ivr/main-menu"]
on_failure = "hangup"

[menu.main.options]
"1" = "message:hello"
"12" = "message:hello"
"A" = "message:hello"
""") == [
        "flows.toml:13: [menu.main] options.12: expected one key: 0-9, * or # (got '12')",
        "flows.toml:14: [menu.main] options.A: expected one key: 0-9, * or # (got 'A')",
    ]


def test_a_menu_needs_a_prompt_and_options(tmp_path: Path) -> None:
    """Both reported, with the missing field: none of them hides the others."""
    assert problems(tmp_path, MINIMAL + """
[menu.main]
prompt = []
options = {}
""") == [
        "flows.toml:8: [menu.main] prompt: Tuple should have at least 1 item after validation, not 0 (got [])",
        "flows.toml:9: [menu.main] options: Dictionary should have at least 1 item after validation, not 0",
        "flows.toml:7: [menu.main] on_failure: required field missing",
    ]


def test_a_list_of_refused_items_is_reported_by_its_items_only(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[time.office]
timezone = "UTC"
open = ["office hours"]
on_match = "message:hello"
otherwise = "hangup"
""") == ["flows.toml:9: [time.office] open.0: expected letters, digits, _ or - (got 'office hours')"]


def test_an_identification_without_a_prompt(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[identification.customer]
prompt = []
on_identified = "hangup"
on_not_identified = "hangup"
""") == ["flows.toml:8: [identification.customer] prompt: Tuple should have at least 1 item after "
         "validation, not 0 (got [])"]


@pytest.mark.parametrize("interaction", ["true-false", "destination"])
def test_an_interaction_with_the_crm_needs_a_url(tmp_path: Path, interaction: str) -> None:
    assert problems(tmp_path, MINIMAL + f"""
[identification.customer]
interaction = "{interaction}"
on_identified = "hangup"
on_not_identified = "hangup"
""") == [f"flows.toml:7: [identification.customer]: interaction '{interaction}' needs 'url' (the CRM service)"]


def test_identification_field_problems(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[identification.customer]
interaction = "maybe"
url = "crm.example.com"
terminator = "1"
user_agent = ""
on_identified = "hangup"
on_not_identified = "hangup"
""") == [
        "flows.toml:10: [identification.customer] terminator: String should match pattern '^[#*]?$' (got '1')",
        "flows.toml:8: [identification.customer] interaction: Input should be 'none', 'true-false' or "
        "'destination' (got 'maybe')",
        "flows.toml:9: [identification.customer] url: expected an http:// or https:// URL (got 'crm.example.com')",
        "flows.toml:11: [identification.customer] user_agent: String should match pattern '^[ -~]{1,100}$' "
        "(got '')",
    ]


def test_expected_length_above_max_length(tmp_path: Path) -> None:
    assert problems(tmp_path, MINIMAL + """
[identification.customer]
expected_length = 12
max_length = 10
on_identified = "hangup"
on_not_identified = "hangup"
""") == ["flows.toml:7: [identification.customer]: expected_length (12) is above max_length"]


def test_no_entry_table(tmp_path: Path) -> None:
    assert problems(tmp_path, """\
[message.hello]
prompt = ["sound:hello"]
""") == ['flows.toml: [entry]: no [entry] table: map each dialled number to a node, e.g. "100" = '
         '"menu:main", or default = "..."']


def test_an_empty_entry_table(tmp_path: Path) -> None:
    assert problems(tmp_path, """\
[entry]

[message.hello]
prompt = ["sound:hello"]
""") == ['flows.toml:1: [entry]: no [entry] table: map each dialled number to a node, e.g. "100" = '
         '"menu:main", or default = "..."']


def test_not_toml(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, "[entry\n")

    assert problem.startswith("flows.toml: -: not valid TOML: ")


def test_several_problems_are_reported_at_once(tmp_path: Path) -> None:
    assert problems(tmp_path, """\
[entry]
"100" = "identification:customer"

[identification.customer]
expected_length = 4
attempts = 0
on_identified = "campaign:sales"
on_not_identified = "menu:main"

[campaign.sales]
id = 0

[menu.main]
prompt = ["sound:ivr/main-menu"]
options = { "1" = "campaign:support" }
on_failure = "hangup"
""") == [
        "flows.toml:11: [campaign.sales] id: Input should be greater than or equal to 1 (got 0)",
        "flows.toml:6: [identification.customer] attempts: Input should be greater than or equal to 1 (got 0)",
        "flows.toml:15: [menu.main] options.1: no node campaign:support in this file",
    ]


def test_agents_with_a_bad_phone_or_skill_are_told_what_is_expected(tmp_path: Path) -> None:
    path = tmp_path / "flows.toml"
    path.write_text('[entry]\ndefault = "hangup"\n\n[agent.ana]\nphone = "ana@pbx"\nskills = { Billing = 2 }\n')

    with pytest.raises(ConfigError) as raised:
        load_flow(path, {})

    assert [str(p) for p in raised.value.problems] == [
        f'{path}:5: [agent.ana] phone: expected "register" (a softphone), a SIP address such as '
        'sip:ana@192.0.2.10:5060, or a number such as +34911234567 (with trunk) (got \'ana@pbx\')',
        f"{path}:6: [agent.ana] skills.Billing: expected a skill name: a-z first, then a-z 0-9 _ - (at most 31) "
        "(got 'Billing')"]


def test_an_agents_number_goes_through_a_trunk_that_allows_it(tmp_path: Path) -> None:
    path = tmp_path / "flows.toml"
    path.write_text('[entry]\ndefault = "hangup"\n\n[trunk.pstn]\ndial = "PJSIP/{number}@pstn"\nallow = ["+346*"]\n\n'
                    '[agent.pat]\nphone = "+34600111222"\ntrunk = "pstn"\n\n'
                    '[agent.sue]\nphone = "+34911234567"\ntrunk = "pstn"\n\n'
                    '[agent.tom]\nphone = "+34600111333"\n\n'
                    '[agent.una]\nphone = "+34600111444"\ntrunk = "gsm"\n')

    with pytest.raises(ConfigError) as raised:
        load_flow(path, {})

    assert [str(p) for p in raised.value.problems] == [
        f'{path}:16: [agent.tom]: a phone number needs a trunk (trunk = "name"); a trunk needs a phone number',
        f"{path}:13: [agent.sue] phone: +34911234567 is not in the allow list of trunk pstn (+346*)",
        f"{path}:21: [agent.una] trunk: no trunk 'gsm' ([trunk.gsm])"]
