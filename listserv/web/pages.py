# SPDX-License-Identifier: Apache-2.0
"""Render the web side's HTML pages from Jinja2 templates, always autoescaped.

Every page extends templates/base.html. Text from mail reaches a template
only as data, so Jinja2 escapes it; HTML from a post is shown only after nh3
has cleaned it, and marked safe there and nowhere else.
"""

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from listserv import __version__
from listserv.core.addresses import shown

_ENVIRONMENT = Environment(loader=PackageLoader("listserv.web", "templates"),
                           autoescape=select_autoescape(default=True, default_for_string=True),
                           undefined=StrictUndefined, enable_async=False)
_ENVIRONMENT.filters["shown"] = shown  # a list's key in U-labels, as people read it


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """The page for this template, with what every page needs (the request, the version)."""
    html = _ENVIRONMENT.get_template(template).render(request=request, version=__version__,
                                                       **values)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


# No script runs on any page, none loads from elsewhere, no page is framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def message(request: Request, title: str, text: str, status_code: int = 200) -> HTMLResponse:
    """A page that only says something (a result, an error)."""
    return render(request, "message.html", status_code, title=title, text=text)
