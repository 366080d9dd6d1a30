# SPDX-License-Identifier: Apache-2.0
"""Every error of the admin API as JSON ``{"error": "…"}`` with its status, in one place.

listserv's own exceptions map by kind (the CLI prints the same messages);
FastAPI's validation errors name the field; HTTP errors (401, 404 for an
unknown path, 405) keep their headers; anything else is a 500 whose cause
goes to the log, not to the client.
"""

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException

from listserv.errors import Conflict, InvalidAddress, ListservError, NotFound, SettingError

log = logging.getLogger(__name__)

STATUS: dict[type[ListservError], int] = {NotFound: 404, Conflict: 409, SettingError: 422,
                                          InvalidAddress: 422}
MALFORMED = 400  # any other ListservError: the request cannot be carried out as asked
_LOCATIONS = {"body", "query", "path", "header"}


class Error(BaseModel):
    """What every error answers."""

    error: str


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error statuses an operation documents, all with the Error body."""
    return {code: {"model": Error} for code in codes}


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _listserv_error(request: Request, exc: Exception) -> JSONResponse:
    status = next((STATUS[kind] for kind in type(exc).__mro__ if kind in STATUS), MALFORMED)
    return error(status, str(exc))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if (media != "application/json" and request.headers.get("content-length", "0") != "0"
            and any(tuple(problem.get("loc", ()))[:1] == ("body",) for problem in problems)):
        # curl -d sends application/x-www-form-urlencoded unless told otherwise
        return error(415, "send the body as JSON, with Content-Type: application/json"
                          + (f" (not {media})" if media else ""))
    malformed = [p for p in problems if p.get("type") == "json_invalid"]
    if malformed:
        reason = malformed[0].get("ctx", {}).get("error", "")
        return error(400, f"the body is not valid JSON{': ' if reason else ''}{reason}")
    return error(422, "; ".join(describe(problem) for problem in problems))


def describe(problem: dict[str, Any]) -> str:
    """One validation problem as 'field: what is wrong'."""
    where: Sequence[Any] = problem.get("loc", ())
    if len(where) > 1 and where[0] in _LOCATIONS:
        where = where[1:]
    field = ".".join(str(part) for part in where) or "request"
    return f"{field}: {problem.get('msg', 'invalid')}"


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # A unique constraint the checks before it did not foresee (two requests racing, or a
    # List-Id another list has): a conflict with what is stored, not a server fault.
    log.warning("%s %s: %s", request.method, request.url.path, exc)
    return error(409, "this conflicts with something stored already (a name, address or "
                      "List-Id in use)")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    message = str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":  # routing found no operation
        message = f"no such path in this API: {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    return error(exc.status_code, message, exc.headers)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette's ServerErrorMiddleware sends this, then re-raises for the log.
    return error(500, "internal error; the server's log has the details")


def install(api: FastAPI) -> None:
    """Answer every error of this API as JSON."""
    api.add_exception_handler(ListservError, _listserv_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(IntegrityError, _integrity_error)
    api.add_exception_handler(HTTPException, _http_error)
    api.add_exception_handler(Exception, _server_error)
