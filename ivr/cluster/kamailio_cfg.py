"""Kamailio's configuration for a cluster, rendered from the plan: pure text, no I/O.

Kamailio only routes: callers' INVITEs go to a node chosen by the dispatcher (the next one if a
node answers 5xx or nothing), agents' phones register to it (location in PostgreSQL, so several
Kamailio can share it), and calls from the nodes to ``agent-NAME`` are looked up there. It does
not record-route: once a call is set up, its BYE and re-INVITEs go between the node and the
phone directly, so restarting Kamailio cuts no call.
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from ivr.cluster.plan import ALGORITHMS, Node, Plan

SET_ID = 1
"""The dispatcher set of the Asterisk nodes."""


@dataclass(frozen=True)
class Files:
    """Where Kamailio's files of a cluster live, under its state folder."""

    folder: Path

    @property
    def config(self) -> Path:
        return self.folder / "kamailio.cfg"

    @property
    def dispatcher_list(self) -> Path:
        return self.folder / "dispatcher.list"

    @property
    def runtime(self) -> Path:
        return self.folder / "run"

    @property
    def control_socket(self) -> Path:
        return self.runtime / "kamailio_ctl"

    @property
    def log(self) -> Path:
        return self.folder / "kamailio.log"

    @property
    def pid_file(self) -> Path:
        return self.runtime / "kamailio.pid"


def kamailio_db_url(url: str) -> str:
    """SQLAlchemy's URL as Kamailio's db_postgres reads it; a URL without a user gets the
    user this runs as, as libpq would.

    >>> kamailio_db_url("postgresql+asyncpg://ivr:s3cret@db.example:5433/ivr")
    'postgres://ivr:s3cret@db.example:5433/ivr'
    """
    parsed = make_url(url)
    user = parsed.username or getpass.getuser()
    secret = f":{parsed.password}" if parsed.password else ""
    return f"postgres://{user}{secret}@{parsed.host or '127.0.0.1'}:{parsed.port or 5432}/{parsed.database}"


def dispatcher_list(nodes: tuple[Node, ...]) -> str:
    """One line per node: set, URI, flags 8 (probed from the start), priority.

    >>> from ivr.settings import Settings
    >>> a = Node("a", Path("a.toml"), Settings(pbx={"bind": "127.0.0.2"}))
    >>> print(dispatcher_list((a,)), end="")
    # rendered by ivr cluster: setid uri flags priority attrs
    1 sip:127.0.0.2:5060 8 0 node=a
    """
    lines = ["# rendered by ivr cluster: setid uri flags priority attrs"]
    lines += [f"{SET_ID} {node.sip_uri} 8 0 node={node.name}" for node in nodes]
    return "\n".join(lines) + "\n"


def render(plan: Plan, files: Files) -> str:
    k = plan.kamailio
    return TEMPLATE.format(
        source=plan.path, children=k.children, listen=k.listen, port=k.port,
        ctl=files.control_socket, fr_timer=int(k.probe_timeout * 1000), db_url=kamailio_db_url(plan.database),
        dispatcher_list=files.dispatcher_list, interval=k.probe_interval, set=SET_ID,
        algorithm=ALGORITHMS[k.algorithm])


TEMPLATE = """#!KAMAILIO
# Rendered by `ivr cluster up` from {source}; changes here are overwritten.

debug=2
log_stderror=yes
fork=yes
children={children}
disable_tcp=yes
auto_aliases=no
listen=udp:{listen}:{port}

loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "ctl.so"
loadmodule "db_postgres.so"
loadmodule "usrloc.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "registrar.so"
loadmodule "dispatcher.so"
loadmodule "htable.so"

modparam("ctl", "binrpc", "unix:{ctl}")
# A node that does not answer (not even 100 Trying) within this is failed over; probes too.
modparam("tm", "fr_timer", {fr_timer})
modparam("tm", "fr_inv_timer", 60000)
# Location in the database only (db_mode 3): every Kamailio sharing it sees every phone.
modparam("usrloc", "db_url", "{db_url}")
modparam("usrloc", "db_mode", 3)
# Phones prove their password by digest; the table keeps HA1 only (ivr cluster up writes it).
modparam("auth_db", "db_url", "{db_url}")
modparam("auth_db", "calculate_ha1", 0)
modparam("auth_db", "password_column", "ha1")
modparam("auth_db", "load_credentials", "")
# Each call's node by Call-ID, for in-dialog requests sent here instead of to the node.
modparam("htable", "htable", "calls=>size=14;autoexpire=7200;")
modparam("dispatcher", "list_file", "{dispatcher_list}")
modparam("dispatcher", "flags", 2)
modparam("dispatcher", "xavp_dst", "_dsdst_")
modparam("dispatcher", "ds_ping_from", "sip:kamailio@{listen}")
modparam("dispatcher", "ds_ping_interval", {interval})
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_probing_threshold", 1)
modparam("dispatcher", "ds_inactive_threshold", 1)
# Probes on a timer process of their own: a busy worker does not delay them.
modparam("dispatcher", "ds_timer_mode", 1)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (!sanity_check("1511", "7")) {{
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    if (!is_method("ACK")) {{
        if (t_precheck_trans()) {{
            t_check_trans();
            exit;
        }}
        t_check_trans();
    }}
    if (has_totag()) {{
        # No record-route, yet a UA may send its in-dialog requests here (SIPp's ACK goes to
        # the address it called): they go on to their Request-URI, the other side's Contact.
        if (is_method("ACK") && t_check_trans()) {{
            t_relay();
        }} else if (uri == myself && $sht(calls=>$ci) != $null) {{
            # Sent to the address the caller called (SIPp does): to the node of its INVITE.
            $du = $sht(calls=>$ci);
            if (is_method("ACK")) {{
                forward();
            }} else {{
                t_relay();
            }}
        }} else if (uri != myself) {{
            if (is_method("ACK")) {{
                forward();
            }} else {{
                t_relay();
            }}
        }} else {{
            sl_send_reply("404", "Not here");
        }}
        exit;
    }}
    if (is_method("REGISTER")) {{
        route(REGISTRAR);
    }}
    if (is_method("OPTIONS") && $rU == $null) {{
        sl_send_reply("200", "Keepalive");
        exit;
    }}
    if (ds_is_from_list("{set}")) {{
        route(TO_AGENT);
    }}
    route(TO_NODE);
}}

route[REGISTRAR] {{
    # Only agents' phones register, as agent-NAME (the nodes call them by that name).
    if (!($tU =~ "^agent-[A-Za-z0-9_-]+$")) {{
        sl_send_reply("403", "Only agent-NAME registers here");
        exit;
    }}
    # The credentials' user must be the one registered (flag 1: $au == To's user).
    if (!auth_check("{listen}", "subscriber", "1")) {{
        auth_challenge("{listen}", "0");
        exit;
    }}
    consume_credentials();
    if (!save("location")) {{
        sl_reply_error();
    }}
    exit;
}}

route[TO_AGENT] {{
    if (!lookup("location")) {{
        sl_send_reply("404", "Agent not registered");
        exit;
    }}
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}

route[TO_NODE] {{
    if (!ds_select_dst("{set}", "{algorithm}")) {{
        sl_send_reply("503", "No node up");
        exit;
    }}
    xlog("L_INFO", "call $ci from $fU to $rU: node $du\\n");
    $sht(calls=>$ci) = $du;
    t_on_failure("NEXT_NODE");
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}

failure_route[NEXT_NODE] {{
    if (t_is_canceled()) {{
        exit;
    }}
    if (t_branch_timeout() && !t_branch_replied()) {{
        # Silent node: out of the selection now, not at its next failed probe.
        ds_mark_dst("ip");
    }} else if (!t_check_status("5[0-9][0-9]")) {{
        exit;
    }}
    if (ds_next_dst()) {{
        xlog("L_WARN", "call $ci: node failed ($T_reply_code), trying $du\\n");
        $sht(calls=>$ci) = $du;
        t_on_failure("NEXT_NODE");
        t_relay();
    }}
}}

event_route[dispatcher:dst-down] {{
    xlog("L_WARN", "node down: $ru\\n");
}}

event_route[dispatcher:dst-up] {{
    xlog("L_WARN", "node up: $ru\\n");
}}
"""


_DEST = re.compile(r"URI:\s*(\S+)\s*\n\s*FLAGS:\s*(\S+)")


def parse_dispatcher_list(text: str) -> dict[str, str]:
    """Each node's state from ``kamcmd dispatcher.list``: its URI and flags (A active, I
    inactive, T trying, D disabled; P probing).

    >>> parse_dispatcher_list('''DEST: {
    ...     URI: sip:127.0.0.2:5060
    ...     FLAGS: AP
    ...     PRIORITY: 0
    ... }
    ... DEST: {
    ...     URI: sip:127.0.0.3:5060
    ...     FLAGS: IP''')
    {'sip:127.0.0.2:5060': 'AP', 'sip:127.0.0.3:5060': 'IP'}
    """
    return dict(_DEST.findall(text))
