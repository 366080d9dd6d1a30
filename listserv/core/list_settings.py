# SPDX-License-Identifier: Apache-2.0
"""The settings an operator may change with ``lists set`` and ``members set``.

Each setting has a parser that turns the text after ``key=`` into the typed
value stored in the column of the same name, or raises SettingError saying
what is wrong. Adding a setting means adding a column and a line here.
"""

import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from listserv.core import filtering, patterns, policy
from listserv.core.addresses import ascii_domain, parse_address
from listserv.errors import InvalidAddress, SettingError

Parser = Callable[[str], Any]
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    parse: Parser
    help: str
    secret: bool = False


def _choice(enum: type[StrEnum]) -> Parser:
    def parse(text: str) -> StrEnum:
        try:
            return enum(text.strip().lower())
        except ValueError:
            options = "|".join(member.value for member in enum)
            raise SettingError(f"expected one of {options}, got {text!r}") from None

    return parse


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE | _FALSE:
        return value in _TRUE
    raise SettingError(f"expected true or false, got {text!r}")


def _integer(low: int, high: int) -> Parser:
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise SettingError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise SettingError(f"expected a number from {low} to {high}, got {value}")
        return value

    return parse


def _text(max_length: int, single_line: bool = True) -> Parser:
    def parse(text: str) -> str:
        if single_line and ("\n" in text or "\r" in text):
            raise SettingError("expected a single line")
        if len(text) > max_length:
            raise SettingError(f"longer than {max_length} characters")
        return text.replace("\\n", "\n") if not single_line else text

    return parse


def _optional_address(text: str) -> str:
    if not text.strip():
        return ""
    try:
        return str(parse_address(text))
    except InvalidAddress as exc:
        raise SettingError(str(exc)) from None


def _url(text: str) -> str:
    if text and not re.fullmatch(r"https?://\S+", text):
        raise SettingError(f"expected an http(s) URL or nothing, got {text!r}")
    return text


def _list_id(text: str) -> str:
    # RFC 2919: list-id = list-label "." list-id-namespace, a dot-atom.
    if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)+",
                        text):
        raise SettingError(f"expected a dotted List-Id such as ops.example.com, got {text!r}")
    return text


def _timezone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(f"unknown time zone {text!r} (use an IANA name)") from None
    return text


def _items(text: str, what: str) -> list[str]:
    """The strings of a JSON array, or of a comma-separated list."""
    if not text.strip().startswith("["):
        return [item.strip() for item in text.split(",") if item.strip()]
    items = _json_list(text)
    for item in items:
        if not isinstance(item, str):
            raise SettingError(f"expected {what}, got {item!r}")
    return items


def _patterns(text: str) -> list[str]:
    """Addresses or ^regexes: a JSON array, or comma-separated when no regex needs a comma."""
    items = _items(text, "addresses or ^regexes")
    for item in items:
        if item.startswith("^"):
            _compile(item)
        else:
            _optional_address(item)
    return [item if item.startswith("^") else parse_address(item).key for item in items]


def _senders(text: str) -> list[str]:
    """Addresses or domains, comma-separated or a JSON array: as match keys and IDNA domains."""
    items = _items(text, "addresses or domains")
    try:
        return [parse_address(item).key if "@" in item else ascii_domain(item)
                for item in items]
    except InvalidAddress as exc:
        raise SettingError(f"expected addresses or domains: {exc}") from None


def _header_matches(text: str) -> list[dict[str, str]]:
    """A JSON array of {"header": …, "pattern": …, "action": hold|reject|discard|accept}."""
    rules = _json_list(text) if text.strip() else []
    parsed = []
    for rule in rules:
        if not isinstance(rule, dict) or set(rule) != {"header", "pattern", "action"}:
            raise SettingError('each header match needs exactly "header", "pattern", "action"')
        if not re.fullmatch(r"[!-9;-~]+", str(rule["header"])):
            raise SettingError(f"not a header name: {rule['header']!r}")
        _compile(str(rule["pattern"]))
        action = _choice(policy.Action)(str(rule["action"]))
        parsed.append({"header": str(rule["header"]), "pattern": str(rule["pattern"]),
                       "action": str(action)})
    return parsed


def _header_names(text: str) -> list[str]:
    names = _items(text, "header names")
    for name in names:
        if not re.fullmatch(r"[!-9;-~]+", name):
            raise SettingError(f"not a header name: {name!r}")
    return names


def _json_list(text: str) -> list[Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingError(f"not valid JSON: {exc.msg}") from None
    if not isinstance(value, list):
        raise SettingError("expected a JSON array")
    return value


def _compile(pattern: str) -> None:
    """Refuse a pattern RE2 cannot take: it is matched in linear time (#14.8)."""
    if (reason := patterns.problem(pattern)) is not None:
        raise SettingError(f"bad regular expression {pattern!r}: {reason}")


# RFC 2045 section 5.1: a type is a token, a subtype too (lower case, as compared).
_MIME_TOKEN = r"[a-z0-9!#$&^_.+-]+"
_MIME_TYPE = re.compile(rf"{_MIME_TOKEN}(/{_MIME_TOKEN})?")


def _mime_types(text: str) -> list[str]:
    """MIME types (application/pdf) or major types (image), comma-separated."""
    types = [item.lower() for item in _items(text, "MIME types")]
    for kind in types:
        if not _MIME_TYPE.fullmatch(kind):
            raise SettingError(f"expected a MIME type such as image/png or a major type "
                               f"such as image, got {kind!r}")
    return list(dict.fromkeys(types))


def _extensions(text: str) -> list[str]:
    """File name extensions, comma-separated, with or without their dot: exe, .scr"""
    extensions = [item.lower().removeprefix(".") for item in _items(text, "extensions")]
    for extension in extensions:
        if not re.fullmatch(r"[a-z0-9_+~-]+", extension):
            raise SettingError(f"expected a file name extension such as exe, got "
                               f"{extension!r}")
    return list(dict.fromkeys(extensions))


def _expiry_action(text: str) -> policy.Action:
    action = policy.Action(_choice(policy.Action)(text))
    if action not in (policy.Action.DISCARD, policy.Action.REJECT):
        raise SettingError(f"expected discard or reject, got {text!r}")
    return action


def _password(text: str) -> str:
    if len(text) < 8:
        raise SettingError("a moderator password needs at least 8 characters")
    return text


_LIST: tuple[Setting, ...] = (
    Setting("display_name", _text(200), "name shown in List-Id, subjects of digests and notices"),
    Setting("description", _text(2000, single_line=False), "what the list is for (info, welcome)"),
    Setting("list_id", _list_id, "RFC 2919 List-Id; kept when the list is renamed"),
    Setting("subject_prefix", _text(100), "prefix added to subjects, e.g. [ops]; empty for none"),
    Setting("footer", _text(4000, single_line=False), "text appended to posts (\\n for new lines)"),
    Setting("posting_policy", _choice(policy.PostingPolicy), "who may post unmoderated"),
    Setting("nonmember_action", _choice(policy.Action), "what happens to nonmember posts"),
    Setting("subscription_policy", _choice(policy.SubscriptionPolicy), "how people join"),
    Setting("emergency", parse_bool, "hold every post for moderation"),
    Setting("administrivia", parse_bool, "hold posts that look like (un)subscribe requests"),
    Setting("require_explicit_destination", parse_bool,
            "hold posts that do not name the list in To or Cc"),
    Setting("accept_these_nonmembers", _patterns, "nonmembers whose posts are accepted"),
    Setting("hold_these_nonmembers", _patterns, "nonmembers whose posts are held"),
    Setting("reject_these_nonmembers", _patterns, "nonmembers whose posts are rejected"),
    Setting("discard_these_nonmembers", _patterns, "nonmembers whose posts are discarded"),
    Setting("ban_list", _patterns, "addresses or ^regexes (RE2) that may never post"),
    Setting("header_matches", _header_matches,
            'JSON array of {"header", "pattern" (RE2), "action"} rules'),
    Setting("strip_headers", _header_names, "headers removed from posts, comma-separated"),
    Setting("duplicate_window_hours", _integer(0, 24 * 365),
            "hold a repeated Message-ID seen within this many hours; 0 = off"),
    Setting("max_message_kb", _integer(0, 1_000_000), "larger posts are held; 0 = no limit"),
    Setting("max_recipients", _integer(0, 10_000),
            "posts with this many To/Cc or more are held; 0 = off"),
    Setting("reply_to", _choice(policy.ReplyTo), "Reply-To policy"),
    Setting("reply_to_address", _optional_address, "Reply-To address for reply_to=explicit"),
    Setting("archive", parse_bool, "store accepted posts in the archive"),
    Setting("archive_url", _url, "public archive URL for List-Archive; empty for none"),
    Setting("archive_visibility", _choice(policy.ArchiveVisibility),
            "who reads the archive on the web: public, members (signed in by mail), private"),
    Setting("archive_addresses", _choice(policy.ArchiveAddresses),
            "how the archive on the web shows addresses: obfuscate (alice at example.org), "
            "hide, show"),
    Setting("one_click_unsubscribe", parse_bool,
            "with LISTSERV_BASE_URL: each member's copy carries its one-click unsubscribe URL"),
    Setting("digest_size_kb", _integer(1, 100_000), "send a digest when this much has collected"),
    Setting("digest_period", _choice(policy.DigestPeriod), "regular digest schedule"),
    Setting("digest_hour", _integer(0, 23), "hour of day digests go out, in timezone"),
    Setting("digest_weekday", _choice(policy.Weekday), "day weekly digests go out"),
    Setting("digest_volume_period", _choice(policy.VolumePeriod),
            "yearly: each year's first digest starts a new volume; manual: only "
            "digests send --new-volume does"),
    Setting("timezone", _timezone, "the list's time zone (IANA name)"),
    Setting("personalize", _choice(policy.Personalize), "none, verp or full personalisation"),
    Setting("verp_probe_every", _integer(0, 1_000_000),
            "with personalize=none, send about one post in N with VERP; 0 = never"),
    Setting("moderator_password", _password, "password for Approved: headers (stored hashed)",
            secret=True),
    Setting("max_days_to_hold", _integer(1, 365), "held posts expire after this many days"),
    Setting("hold_expiry_action", _expiry_action,
            "what happens to an expired held post: discard, or reject (the author is told)"),
    Setting("notify_author_on_hold", parse_bool, "tell the author a post awaits moderation"),
    Setting("moderator_notices_per_hour", _integer(1, 1000),
            "held-post notices per hour before the rest are summarised"),
    Setting("flood_max_posts", _integer(0, 100_000),
            "accepted posts per window that switch on emergency moderation; 0 = off"),
    Setting("flood_window_minutes", _integer(1, 7 * 24 * 60), "the window for flood_max_posts"),
    Setting("unsubscribe_confirm", parse_bool, "unsubscribing by mail needs a confirmation"),
    Setting("send_welcome", parse_bool, "send a welcome message to new members"),
    Setting("welcome_message", _text(10_000, single_line=False),
            "the list's own welcome text (\\n for new lines); empty for the standard one"),
    Setting("send_goodbye", parse_bool, "send a goodbye message to leaving members"),
    Setting("goodbye_message", _text(10_000, single_line=False),
            "the list's own goodbye text; empty for the standard one"),
    Setting("notify_owners_of_subscriptions", parse_bool,
            "tell the owners of each subscription and unsubscription"),
    Setting("roster_visibility", _choice(policy.RosterVisibility),
            "who may get the member list with the who command"),
    Setting("bounce_score_threshold", _integer(1, 1000),
            "bounce score (one per day with a permanent bounce) that disables delivery"),
    Setting("bounce_warnings", _integer(0, 100),
            "warnings a member disabled by bounces gets before being removed"),
    Setting("bounce_warning_interval_days", _integer(1, 365),
            "days between those warnings, and from the last one to removal"),
    Setting("bounce_score_decay_days", _integer(0, 365),
            "a score no bounce raised for this many days starts again at 0; 0 = never"),
    Setting("bounce_notify_owners", parse_bool,
            "tell the owners of members disabled or removed by bounces, of complaints, "
            "and daily of failures that do not count"),
    Setting("complaint_action", _choice(policy.ComplaintAction),
            "what a spam complaint (ARF report) about a member does"),
    Setting("dmarc_mitigation", _choice(policy.DmarcMitigation),
            "for authors whose domain publishes DMARC quarantine or reject: none, "
            "munge_from (From: the list) or wrap (the post attached to a list message)"),
    Setting("dmarc_mitigate_none", parse_bool, "mitigate for domains that publish p=none too"),
    Setting("dmarc_always", _senders,
            "addresses or domains (with their subdomains) always mitigated, comma-separated"),
    Setting("dmarc_author_in", _choice(policy.AuthorIn),
            "where a mitigated post names its author: reply_to, cc or both"),
    Setting("dmarc_on_dns_failure", _choice(policy.DnsFailure),
            "when the DMARC lookup fails (timeout, SERVFAIL): mitigate or none"),
    Setting("dkim_keep_incoming", parse_bool,
            "keep the author's DKIM-Signature headers (munged posts lose them anyway)"),
    Setting("filter_content", parse_bool,
            "remove the parts of posts the filter settings below name, before anything else"),
    Setting("filter_types", _mime_types,
            "MIME types or major types removed, comma-separated: image, application/x-msdownload"),
    Setting("pass_types", _mime_types,
            "when set, only parts of these MIME types or major types are kept"),
    Setting("filter_extensions", _extensions,
            "file name extensions removed, comma-separated: exe,scr,bat,js"),
    Setting("pass_extensions", _extensions,
            "when set, only named files with these extensions are kept"),
    Setting("collapse_alternatives", parse_bool,
            "of multipart/alternative keep only the text/plain part (else the first)"),
    Setting("convert_html_to_plaintext", parse_bool,
            "HTML left after filtering becomes plain text, its links kept as text"),
    Setting("filter_action", _choice(filtering.FilterAction),
            "a post nothing is left of: discard, hold (for the moderators), reject (the "
            "author is told) or forward (to the owners)"),
    Setting("filter_signed", _choice(filtering.FilterSigned),
            "a signed post (multipart/signed): keep it whole, or strip the signature and "
            "filter its content"),
    Setting("digest_attachments", _choice(policy.DigestAttachments),
            "MIME digests: list the posts' attachments by name and size, or keep them"),
    Setting("moderator_replies_need_auth", parse_bool,
            "decide by mail only from an authenticated From: passing DMARC/DKIM at the "
            "trusted front MTA, or without one, an envelope sender that is the From"),
)

_MEMBER: tuple[Setting, ...] = (
    Setting("display_name", _text(200), "the member's name"),
    Setting("role", _choice(policy.Role), "member, moderator or owner"),
    Setting("delivery_mode", _choice(policy.DeliveryMode),
            "regular|digest-mime|digest-plain|nomail"),
    Setting("delivery_status", _choice(policy.DeliveryStatus), "enabled or why delivery is off"),
    Setting("moderated", parse_bool, "hold this member's posts"),
    Setting("receive_own_posts", parse_bool, "get a copy of one's own posts"),
    Setting("skip_if_addressed", parse_bool, "no list copy when named in To or Cc"),
)

LIST_SETTINGS: Mapping[str, Setting] = {setting.name: setting for setting in _LIST}
MEMBER_SETTINGS: Mapping[str, Setting] = {setting.name: setting for setting in _MEMBER}


def _unknown(name: str, settings: Mapping[str, Setting]) -> str:
    near = difflib.get_close_matches(name, settings, n=3, cutoff=0.6)
    if near:
        return f"unknown setting {name!r}; did you mean {' or '.join(near)}?"
    return f"unknown setting {name!r} (--help lists them)"


def inconsistencies(current: Mapping[str, Any]) -> list[str]:
    """What is wrong with a list's settings taken together (each alone may be fine)."""
    found = []
    if current.get("reply_to") == policy.ReplyTo.EXPLICIT and not current.get("reply_to_address"):
        found.append("reply_to=explicit needs a reply_to_address (set both: "
                     "reply_to=explicit reply_to_address=ADDRESS)")
    return found


def parse_assignments(
    assignments: Iterable[str], settings: Mapping[str, Setting]
) -> dict[str, Any]:
    """Parse ``key=value`` words into typed values; raise SettingError naming the bad one."""
    texts: list[tuple[str, str]] = []
    for assignment in assignments:
        name, equals, text = assignment.partition("=")
        if not equals:
            raise SettingError(f"expected key=value, got {assignment!r}")
        texts.append((name.strip(), text))
    return parse_values(texts, settings)


def parse_values(texts: Iterable[tuple[str, str]],
                 settings: Mapping[str, Setting]) -> dict[str, Any]:
    """Parse (name, text) pairs into typed values; raise SettingError naming the bad one."""
    values: dict[str, Any] = {}
    for name, text in texts:
        setting = settings.get(name)
        if setting is None:
            raise SettingError(_unknown(name, settings))
        try:
            if _UNSTORABLE.search(text):
                raise SettingError("contains a NUL character or a lone surrogate, which no "
                                   "database stores as text")
            values[name] = setting.parse(text)
        except SettingError as exc:
            raise SettingError(f"{name}: {exc}") from None
    return values
