# SPDX-License-Identifier: Apache-2.0
"""The body of a member import: a JSON array of {address, name}, or the roster text
``listserv members import`` reads (one address per line, or CSV name,address)."""

from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException

from listserv.core.roster import (
    Roster,
    decode_roster,
    read_roster,
    roster_entry,
    split_roster,
)

JSON = "application/json"
TEXT = ("text/csv", "text/plain")


class ImportEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(examples=["alice@example.org"])
    name: str = Field("", description="default: the name in address, if any")


_ENTRIES = TypeAdapter(list[ImportEntry])
_ENTRY_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["address"],
                 "properties": {"address": {"type": "string"}, "name": {"type": "string"}}}
ROSTER_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    JSON: {"schema": {"type": "array", "items": _ENTRY_SCHEMA}},
    **{media: {"schema": {"type": "string"},
               "example": "name,address\nAlice Example,alice@example.org\nbob@example.net\n"}
       for media in TEXT}}}}


def read_body(headers: Headers, body: bytes) -> Roster:
    """The entries to import and the invalid ones, whichever the body's media type."""
    media = headers.get("content-type", "").partition(";")[0].strip().lower()
    if media == JSON:
        return split_roster(roster_entry(number, entry.name, entry.address)
                            for number, entry in enumerate(_parse_json(body), start=1))
    if media in TEXT:
        return split_roster(read_roster(decode_roster(body)))
    raise HTTPException(415, f"send the members as {JSON} or {' or '.join(TEXT)}")


def _parse_json(body: bytes) -> list[ImportEntry]:
    try:
        return _ENTRIES.validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**problem, "loc": ("body", *problem["loc"])} for problem in exc.errors()]
        ) from None

