"""The SIP transports of a rendered pjsip.conf: Asterisk binds them when it starts, and a
reload leaves a UDP transport on its old address ("transport not reloadable"), so a change to
them needs a restart."""

from __future__ import annotations

from pathlib import Path


def transport_sections(text: str) -> list[str]:
    """Each section of type transport, as its lines without blanks and comments.

    >>> transport_sections("[t]\\ntype = transport\\nbind = 0.0.0.0:5060\\n; x\\n\\n[e]\\ntype = endpoint\\n")
    ['[t]\\ntype = transport\\nbind = 0.0.0.0:5060']
    """
    sections: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("["):
            sections.append([line])
        elif line and sections:
            sections[-1].append(line)
    return ["\n".join(lines) for lines in sections
            if any(line.replace(" ", "") == "type=transport" for line in lines)]


def rendered_transports(pjsip_conf: Path) -> list[str]:
    """Those of the file as it is now (none before the first render)."""
    try:
        return transport_sections(pjsip_conf.read_text(encoding="utf-8"))
    except OSError:
        return []
