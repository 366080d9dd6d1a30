# SPDX-License-Identifier: Apache-2.0
"""Forms of the members' pages: reading them within bounds, and the CSRF defence of every
form that changes something or mails someone.

Starlette has no CSRF middleware; this is it, small. Each such form carries
a hidden field, an HMAC (core.tokens.sign) of its purpose and of what it acts
on (a member's token, the signed-in address, a held post), which another
site cannot compute; and its POST must come from this site, by its Origin
(else Referer) header. A POST with neither header is judged by the field
alone: every browser sends Origin with a cross-site POST. The one-click
unsubscribe POST is the one exception (RFC 8058: the token in its URL is the
authority, and mailbox providers send no Origin).
"""

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse

from listserv.core.tokens import sign, verify
from listserv.core.websafety import same_origin
from listserv.web.context import context_of
from listserv.web.members import secret
from listserv.web.pages import message

FIELD = "csrf"  # the hidden field's name
_PURPOSE = "form"  # core.tokens purpose of every form token; the form's own goes inside
MAX_FIELDS = 10
MAX_FIELD_BYTES = 8 * 1024  # no form here takes more; a bigger field ends the reading


def form_token(request: Request, purpose: str, *subject: str) -> str:
    """The hidden field of a form for this purpose, acting on this subject."""
    return sign(secret(request), _PURPOSE, [purpose, *subject])


async def read_form(request: Request) -> FormData | None:
    """The submitted form (urlencoded or multipart, no files); None when it is malformed or
    larger than any form here."""
    try:
        return await request.form(max_files=0, max_fields=MAX_FIELDS,
                                  max_part_size=MAX_FIELD_BYTES)
    except HTTPException:  # Starlette's answer to a form past the limits, or broken
        return None


def from_this_site(request: Request) -> bool:
    """Whether the POST came from a page of this site (Origin, else Referer)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:
        return True
    return same_origin(source, site=context_of(request).settings.base_url or "",
                       host=request.headers.get("host", ""))


async def guarded_form(request: Request, purpose: str, *subject: str) -> FormData | HTMLResponse:
    """The submitted form if it came from this site's page for this purpose and subject;
    otherwise the page refusing it (403)."""
    if not from_this_site(request):
        return _refused(request, "This form was sent from another site.")
    form = await read_form(request)
    if form is None:
        return message(request, "Not done", "The form could not be read.", 400)
    given = form.get(FIELD)
    if not isinstance(given, str) or verify(secret(request), _PURPOSE, given) \
            != (purpose, *subject):
        return _refused(request, "This form is not one this site made for it, or it is out "
                                 "of date. Go back, reload the page and try again.")
    return form


def field(form: FormData, name: str) -> str:
    """A text field's value, stripped; '' when absent (or a file)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _refused(request: Request, text: str) -> HTMLResponse:
    return message(request, "Refused", text, 403)
