# SPDX-License-Identifier: Apache-2.0
"""Who is signed in on the web: a member or moderator who proved an address by mail.

The session is a cookie signed with the site's secret key (HttpOnly,
SameSite=Lax, Secure when the base URL is https); it holds the address's
match key and nothing else. Signing in (a link mailed to the address) is
the members' pages' business; this module only keeps the result.
"""

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request

from listserv.settings import Settings

COOKIE = "listserv_session"
SESSION_DAYS = 14
_ADDRESS = "address"


def session_middleware(settings: Settings) -> Middleware:
    assert settings.secret_key is not None  # resolved at start (db.site)
    return Middleware(SessionMiddleware, secret_key=settings.secret_key.get_secret_value(),
                      session_cookie=COOKIE, max_age=SESSION_DAYS * 24 * 3600,
                      same_site="lax",
                      https_only=bool(settings.base_url and settings.base_url.startswith("https:")))


def signed_in(request: Request) -> str | None:
    """The match key of the address signed in, if any."""
    address = request.session.get(_ADDRESS)
    return address if isinstance(address, str) and address else None


def sign_in(request: Request, key: str) -> None:
    request.session.clear()  # a fresh session: nothing carried over from before
    request.session[_ADDRESS] = key


def sign_out(request: Request) -> None:
    request.session.clear()
