# SPDX-License-Identifier: Apache-2.0
"""Moderation by mail: reading a moderator's decision, and the notices around a held post.

A moderator answers a held-post notice from a mail client; the first line
they wrote is the decision (an empty reply approves). Anything that is not
clearly a decision decides nothing: a reply misread as "approve" would send
a post to every member, so parse_decision says None rather than guess.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr
from enum import StrEnum

from listserv.core.message import parse_post
from listserv.core.notices import about, attachable, kib, list_name, notice, paragraphs
from listserv.core.policy import ListPolicy
from listserv.core.replies import answer_subject

MAX_REASON = 500  # characters of a moderator's reason passed on to the author


class Verdict(StrEnum):
    APPROVE = "approve"
    APPROVE_ALWAYS = "approve always"  # and let the author post freely from now on
    REJECT = "reject"  # the author is told, with the moderator's reason
    DISCARD = "discard"
    BAN = "ban"  # discard, and put the author on the ban list
    DEFER = "defer"  # keep it held
    WITHDRAW = "withdraw"  # the author took it back
    EXPIRE = "expire"  # nobody decided in time


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str = ""


_WORDS = {"approve": Verdict.APPROVE, "approved": Verdict.APPROVE, "accept": Verdict.APPROVE,
          "reject": Verdict.REJECT, "rejected": Verdict.REJECT, "deny": Verdict.REJECT,
          "discard": Verdict.DISCARD, "delete": Verdict.DISCARD, "ban": Verdict.BAN,
          "defer": Verdict.DEFER, "hold": Verdict.DEFER, "later": Verdict.DEFER}


def _decision(line: str) -> Decision | None:
    words = line.split()
    if not words:
        return None
    verdict = _WORDS.get(words[0].lower().strip(".!,:;"))
    rest = [word.lower().strip(".!,:;") for word in words[1:]]
    if verdict is Verdict.REJECT:
        reason = line.split(None, 1)[1].strip() if len(words) > 1 else ""
        return Decision(verdict, reason.lstrip(":-\u2013 ").strip()[:MAX_REASON])
    if verdict is Verdict.APPROVE and rest == ["always"]:
        return Decision(Verdict.APPROVE_ALWAYS)
    if verdict is None or any(rest):
        return None  # "approve? no, reject" is no decision
    return Decision(verdict)


def parse_decision(subject: str, lines: Sequence[str]) -> Decision | None:
    """The moderator's decision: the first line they wrote, else the subject; None if unclear.

    subject has its Re: prefixes removed and lines are the reply's own lines
    (core.replies). A reply with no words of its own approves, unless its
    subject is itself a decision.
    """
    if lines:
        return _decision(lines[0])
    return _decision(subject) or Decision(Verdict.APPROVE)


def parse_withdrawal(lines: Sequence[str]) -> bool:
    """Whether an author's reply to the "awaits moderation" notice withdraws the post:
    an empty reply, or one whose first line starts with "withdraw"."""
    return not lines or lines[0].split()[0].lower().strip(".!,:;") == "withdraw"


@dataclass(frozen=True, slots=True)
class HeldPost:
    """What notices say about a held post."""

    id: int
    token: str
    author: str
    subject: str
    reasons: tuple[str, ...]
    held_at: datetime
    expires_at: datetime
    size: int

    def describe(self) -> str:
        return f'"{self.subject or "(no subject)"}" from {self.author or "(unknown sender)"}'


def reply_address(policy: ListPolicy, token: str) -> str:
    """ops-confirm+TOKEN@example.com: where an answer about one held post goes."""
    return policy.sub_address(f"-confirm+{token}")


def thread_root(policy: ListPolicy) -> str:
    """The Message-ID every moderation notice of a list refers to, so clients thread them."""
    return f"<moderation@{policy.list_id}>"


def _staff_notice(policy: ListPolicy, to: Sequence[str], subject: str, body: str, *,
                  message_id: str, now: datetime, reply_to: str = "") -> EmailMessage:
    message = notice(policy, ", ".join(to), subject[:200], body, message_id=message_id, now=now)
    if reply_to:
        del message["From"]
        message["From"] = formataddr((f"{policy.display_name} moderation", reply_to))
        message["Reply-To"] = reply_to
    message["In-Reply-To"] = thread_root(policy)
    message["References"] = thread_root(policy)
    return message


HOW_TO_ANSWER = """\
Reply to this message to decide. The first line of your reply is the decision:

  approve            send it to the list (an empty reply approves too)
  approve always     send it, and let this sender post freely from now on
  reject REASON      return it to the sender with your reason
  discard            drop it without a word
  ban                drop it, and refuse this sender's posts from now on
  defer              keep it held
"""


def held_notice(policy: ListPolicy, held: HeldPost, raw: bytes, *, to: Sequence[str],
                size_limit: int, message_id: str, now: datetime) -> EmailMessage:
    """Tell the moderators a post is held: why, how to answer, and the post itself, cut
    short where it would take the notice past size_limit (the site's largest message)."""
    reasons = "\n".join(f"  - {reason}" for reason in held.reasons)
    copy = attachable(raw, size_limit)
    cut = "" if copy is raw else (
        f"The post is too large to attach whole to this notice: the attached copy is cut "
        f"after its first {kib(len(copy))}. A decision applies to the whole post.\n\n")
    body = (f"A post to {policy.address} is held for moderation:\n\n"
            f"  From:    {held.author or '(unknown sender)'}\n"
            f"  Subject: {held.subject or '(no subject)'}\n"
            f"  Size:    {kib(held.size)}\n\n"
            f"It was held because\n{reasons}\n\n{cut}{HOW_TO_ANSWER}\n"
            f"Undecided, it expires on {held.expires_at:%Y-%m-%d %H:%M} UTC.\n")
    message = _staff_notice(policy, to, f"{policy.subject_prefix} Held: {held.describe()}".strip(),
                            body, message_id=message_id, now=now,
                            reply_to=reply_address(policy, held.token))
    message.add_attachment(parse_post(copy).message, disposition="inline")
    return message


def held_summary(policy: ListPolicy, held: Sequence[HeldPost], *, to: Sequence[str],
                 message_id: str, now: datetime) -> EmailMessage:
    """One message for the held posts past the hourly notice limit, each with its address."""
    entries = "\n\n".join(
        f"{number}. {post.describe()}\n   held because {'; '.join(post.reasons)}\n"
        f"   answer to: {reply_address(policy, post.token)}"
        for number, post in enumerate(held, 1))
    body = (f"{len(held)} more posts to {policy.address} are held. To keep your mailbox "
            "usable they are listed here instead of one notice each.\n\nTo decide one, "
            "write to its address with the decision as the first line of the message:\n"
            "approve, approve always, reject REASON, discard, ban or defer.\n\n"
            f"{entries}\n")
    return _staff_notice(policy, to, f"{policy.subject_prefix} {len(held)} held posts "
                         "await moderation".strip(), body, message_id=message_id, now=now)


def author_notice(policy: ListPolicy, held: HeldPost, withdraw_token: str, *,
                  why: Sequence[str], to: str, message_id: str, now: datetime) -> EmailMessage:
    """Tell the author their post waits for a moderator, why (in plain words, from
    core.explanations), and how to take it back."""
    because = f"Why it waits:\n\n{paragraphs(why)}\n\n" if why else ""
    body = (f"Your message to {policy.address} with the subject\n\n"
            f"  {held.subject or '(no subject)'}\n\n"
            "is waiting for a moderator, who will decide whether it goes to the list.\n\n"
            f"{because}You need not do anything.\n\n"
            "To withdraw it, reply to this message with the word: withdraw\n")
    message = notice(policy, to, about(f"Your message to {list_name(policy)} awaits moderation",
                                       held.subject), body, message_id=message_id, now=now)
    message["Reply-To"] = reply_address(policy, withdraw_token)
    return message


def answer(policy: ListPolicy, to: str, text: str, *, regarding: str, message_id: str,
           now: datetime) -> EmailMessage:
    """A short answer to someone who wrote to a confirm address."""
    subject = answer_subject(regarding, f"Your message to {policy.sub_address('-confirm')}")
    return notice(policy, to, subject, text + "\n", message_id=message_id, now=now)


def expiry_report(policy: ListPolicy, expired: Sequence[HeldPost], action: str, *,
                  to: Sequence[str], message_id: str, now: datetime) -> EmailMessage:
    """Tell the moderators which held posts expired undecided and what became of them."""
    entries = "\n".join(f"  - {post.describe()}, held {post.held_at:%Y-%m-%d}"
                        for post in expired)
    done = "rejected (the senders were told)" if action == "reject" else "discarded"
    body = (f"{len(expired)} held posts to {policy.address} were not decided in time and "
            f"were {done}:\n\n{entries}\n")
    return _staff_notice(policy, to, f"{policy.subject_prefix} {len(expired)} held posts "
                         "expired".strip(), body, message_id=message_id, now=now)


def flood_notice(policy: ListPolicy, posts: int, minutes: int, *, to: Sequence[str],
                 message_id: str, now: datetime) -> EmailMessage:
    """Tell the moderators the list switched itself to emergency moderation."""
    body = (f"{posts} posts were accepted on {policy.address} within {minutes} minutes, "
            "the list's flood limit. The list is now under emergency moderation: every "
            "post is held for you to decide.\n\n"
            f"When things are calm again, switch it off with\n\n"
            f"  listserv lists set {policy.address} emergency=false\n")
    return _staff_notice(policy, to, f"{policy.subject_prefix} Flood: emergency moderation "
                         "is on".strip(), body, message_id=message_id, now=now)


def password_notice(policy: ListPolicy, senders: Sequence[str], *, to: Sequence[str],
                    message_id: str, now: datetime) -> EmailMessage:
    """Tell the owners the moderator password is ignored for a while: too many wrong ones."""
    listed = "\n".join(f"  - {sender or '(no sender)'}" for sender in senders)
    body = (f"{len(senders)} posts to {policy.address} within the last hour carried a wrong "
            "moderator password (an Approved: header or first line). Someone may be "
            "guessing it.\n\n"
            "Until fewer than that come within an hour, listserv ignores the password in "
            "posts, the right one too: they are moderated as if they carried none. You "
            "are told at most once an hour.\n\n"
            f"The wrong passwords came from\n{listed}\n\n"
            "If the password may be known, change it:\n\n"
            f"  listserv lists set {policy.address} moderator_password=NEW\n")
    return _staff_notice(policy, to, f"{policy.subject_prefix} Moderator password ignored "
                         "after wrong guesses".strip(), body, message_id=message_id, now=now)
