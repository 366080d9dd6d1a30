# SPDX-License-Identifier: Apache-2.0
"""Moderation on the web: /lists/{address}/held and /lists/{address}/held/{id}, for the
list's moderators and owners, signed in by mail.

A click decides through handling.moderation.decide, as a reply by mail does,
so a post is decided once whichever comes first. Anyone who is not staff of
the list gets 404, as for a page that does not exist (the pages never show
who the staff are); without a session, the sign-in page.
"""

from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from listserv.archive import body_text
from listserv.core import urls
from listserv.core.message import header_texts, parse_post
from listserv.core.moderation import MAX_REASON, Decision, Verdict
from listserv.core.policy import Role
from listserv.db.held import undecided_posts
from listserv.db.members import find_member
from listserv.db.models import HeldMessage, MailingList, Member
from listserv.handling import moderation
from listserv.handling.context import Work
from listserv.offload import in_worker
from listserv.web.auth import signed_in
from listserv.web.forms import field, form_token, guarded_form
from listserv.web.members import bad_request, list_named, not_found, result, work
from listserv.web.pages import render
from listserv.web.signin import session_values

PURPOSE = "moderate"
SHOWN = 500  # held posts listed on one page
MAX_HEADERS = 200
VERDICTS = {str(verdict): verdict for verdict in (
    Verdict.APPROVE, Verdict.APPROVE_ALWAYS, Verdict.REJECT, Verdict.DISCARD, Verdict.BAN)}


async def _staff(request: Request, unit: Work) -> tuple[MailingList, Member] | Response:
    """The list and the signed-in moderator or owner of it; else the page to answer."""
    mlist = await list_named(unit, request.path_params["address"])
    if mlist is None:
        return not_found(request)
    key = signed_in(request)
    if key is None:
        query = urlencode({"next": request.url.path})
        return RedirectResponse(f"{urls.signin_path(mlist.address)}?{query}", status_code=303)
    member = await find_member(unit.session, mlist, key)
    if member is None or member.role not in (Role.MODERATOR, Role.OWNER):
        return not_found(request)
    return mlist, member


def age(since: datetime, now: datetime) -> str:
    """How long ago, in the largest whole unit: "5 minutes", "3 hours", "2 days"."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    count, unit = next(((minutes // size, name) for size, name in ((24 * 60, "day"), (60, "hour"))
                        if minutes >= size), (minutes, "minute"))
    return f"{count} {unit}{'' if count == 1 else 's'}"


async def held_list(request: Request) -> Response:
    """GET: the posts waiting for a decision, oldest first."""
    async with work(request) as unit:
        found = await _staff(request, unit)
        if isinstance(found, Response):
            return found
        mlist, _ = found
        posts = await undecided_posts(unit.session, mlist.id, SHOWN)
        rows = [{"path": urls.held_post_path(mlist.address, post.id), "author": post.author,
                 "subject": post.subject, "reasons": "; ".join(post.reasons),
                 "age": age(post.held_at, unit.now), "size": -(-post.size // 1024)}
                for post in posts]
        return render(request, "members/held.html", address=mlist.address,
                      name=mlist.display_name or mlist.address, rows=rows, shown=SHOWN,
                      **session_values(request))


async def _held(request: Request,
                unit: Work) -> tuple[MailingList, Member, HeldMessage] | Response:
    """The list, its signed-in staff member and the held post the URL names; else the
    page to answer."""
    found = await _staff(request, unit)
    if isinstance(found, Response):
        return found
    mlist, member = found
    held = await unit.session.get(HeldMessage, request.path_params["held_id"])
    if held is None or held.list_id != mlist.id:
        return not_found(request)
    return mlist, member, held


def _readable(raw: bytes) -> tuple[list[tuple[str, str]], str]:
    """A post's headers and text, as the archive reads them (in a thread: it may be big)."""
    message: EmailMessage = parse_post(raw).message
    headers = [(name, value) for name in dict.fromkeys(message.keys())
               for value in header_texts(message, name)]
    return headers[:MAX_HEADERS], body_text(raw, message)


async def held_page(request: Request) -> Response:
    """GET: one held post, its headers and text (escaped), and the decisions."""
    async with work(request) as unit:
        found = await _held(request, unit)
        if isinstance(found, Response):
            return found
        mlist, member, held = found
        values: dict[str, Any] = {
            "address": mlist.address, "held": moderation.held_post(held),
            "age": age(held.held_at, unit.now), "size": -(-len(held.raw) // 1024),
            "closed": moderation.closed(held, unit.now) or "",
            "back": urls.held_path(mlist.address), "action": str(request.url.path),
            "csrf": form_token(request, PURPOSE, member.match_key, str(held.id))}
        raw = held.raw
    values["headers"], values["text"] = await in_worker(_readable, raw)
    return render(request, "members/held_post.html", **values, **session_values(request))


async def decide(request: Request) -> Response:
    """POST: carry out a moderator's decision, once; say what came of it.

    The form is checked before anything is read: its field names the signed-in
    address and the post, and only a held post's page, shown to its staff, has it.
    """
    held_id = request.path_params["held_id"]
    form = await guarded_form(request, PURPOSE, signed_in(request) or "", str(held_id))
    if isinstance(form, Response):
        return form
    verdict = VERDICTS.get(field(form, "verdict"))
    if verdict is None:
        return bad_request(request, "Choose a decision: approve, approve always, reject, "
                                    "discard or ban.")
    reason = field(form, "reason")[:MAX_REASON] if verdict is Verdict.REJECT else ""
    async with work(request) as unit:
        found = await _held(request, unit)
        if isinstance(found, Response):
            return found
        mlist, member, held = found
        closed = moderation.closed(held, unit.now)
        done = closed or await moderation.decide(unit, mlist, held, Decision(verdict, reason),
                                                 by=f"{member.address} (web)")
    return result(request, "Already decided" if closed else "Decided", done,
                  409 if closed else 200,
                  links=(("Back to the held posts", urls.held_path(mlist.address)),))


routes = [Route("/lists/{address}/held", held_list, methods=["GET"]),
          Route("/lists/{address}/held/{held_id:int}", held_page, methods=["GET"]),
          Route("/lists/{address}/held/{held_id:int}", decide, methods=["POST"])]
