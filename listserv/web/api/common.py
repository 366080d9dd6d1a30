# SPDX-License-Identifier: Apache-2.0
"""What the admin API's resources share: the running server, path parameters, and
settings given as JSON values."""

import json
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Path
from pydantic import BaseModel, ConfigDict, Field, JsonValue, create_model

from listserv.core.list_settings import Setting, parse_values
from listserv.web.context import WebContext, context_of

Context = Annotated[WebContext, Depends(context_of)]
ListAddress = Annotated[str, Path(description="the list's address, or a former one",
                                  examples=["ops@example.com"])]
BIGINT = 2**63 - 1  # ids are 64-bit in PostgreSQL; a larger one names nothing

# A setting's value: its text as after key= on the command line, or the JSON value it
# means (true, 25, ["X-Spam"]); null for the empty text. Any JSON value is taken, so that
# the setting's own parser judges it, with the CLI's message.
SettingValue = JsonValue


def settings_model(name: str, settings: Mapping[str, Setting]) -> type[BaseModel]:
    """A request body with each setting as an optional field, documented by its help."""
    fields: dict[str, Any] = {key: (SettingValue, Field(None, description=setting.help))
                              for key, setting in settings.items()}
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


def parsed(body: BaseModel, settings: Mapping[str, Setting]) -> dict[str, Any]:
    """The settings a request gives, parsed and checked as 'lists set' / 'members set' do."""
    return parse_values([(name, _text(value)) for name, value
                         in body.model_dump(exclude_unset=True).items()], settings)


def checked(name: str, text: str, settings: Mapping[str, Setting]) -> Any:
    """One setting's text parsed and checked as 'lists set' / 'members set' would."""
    return parse_values([(name, text)], settings)[name]


def _text(value: SettingValue) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)
