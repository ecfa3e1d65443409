"""What the flow file's tables share: the base model, and the field types and patterns with the
help an admin reads when a value does not match."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Table(BaseModel):
    """A table of the flow file: every field known (a misspelt one is an error), immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Seconds = Annotated[float, Field(gt=0, le=600)]
NodeId = Annotated[int, Field(ge=1, le=999_999_999)]
MEDIA = r"^(sound|digits|number|tone|recording):[^,\s]+$"
Media = tuple[Annotated[str, Field(pattern=MEDIA)], ...]
DIALPLAN_NAME = r"^[A-Za-z0-9_\-]+$"
DTMF_KEY = r"^[0-9*#]$"
SKILL = r"^[a-z][a-z0-9_\-]{0,30}$"
PHONE = r"^(register|sip:[A-Za-z0-9._+\-]+@[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\+?[0-9]{2,20})$"
AGENT_NAME = r"^[a-z0-9][a-z0-9_\-]{0,39}$"
PATTERN_HELP = {
    SKILL: "expected a skill name: a-z first, then a-z 0-9 _ - (at most 31)",
    PHONE: 'expected "register" (a softphone), a SIP address such as sip:ana@192.0.2.10:5060, '
           'or a number such as +34911234567 (with trunk)',
    AGENT_NAME: "expected an agent name: 1-40 of a-z 0-9 _ - (lower case)",
    MEDIA: "expected a media URI such as sound:ivr/welcome, sound:/srv/prompts/hello or digits:123, "
           "without commas or spaces",
    DTMF_KEY: "expected one key: 0-9, * or #",
    DIALPLAN_NAME: "expected letters, digits, _ or -",
}
