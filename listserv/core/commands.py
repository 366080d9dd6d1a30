# SPDX-License-Identifier: Apache-2.0
"""Mail commands sent to a list's -request address: parsing them into values, and
laying out the answer. Executing them is the shell's work.

The input is already-extracted text (quotes and signature dropped). Reading stops
at an end line, after MAX_UNRECOGNISED lines that are not commands, or after
MAX_COMMANDS commands, so a pasted post or a huge body costs little.
"""

import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import partial

from listserv.core.addresses import parse_address
from listserv.core.policy import DeliveryMode
from listserv.errors import InvalidAddress

MAX_UNRECOGNISED = 5
MAX_COMMANDS = 20
MAX_LINE = 1000  # characters; a longer line is no command
NOT_A_COMMAND = "not a command"
SHOWN_REST = 20  # unprocessed lines quoted back in the answer


class Verb(StrEnum):
    HELP = "help"
    INFO = "info"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    SET_DELIVERY = "set-delivery"
    SET_NOMAIL = "set-nomail"
    WHO = "who"
    CONFIRM = "confirm"


class Ending(StrEnum):
    """Why reading stopped; the answer tells the sender."""

    END = "end"
    END_OF_MESSAGE = "end of message"
    TOO_MANY_UNRECOGNISED = "too many unrecognised lines"
    TOO_MANY_COMMANDS = "too many commands"


@dataclass(frozen=True, slots=True)
class Command:
    """One command to execute; address None means the sender."""

    verb: Verb
    line: str
    address: str | None = None
    delivery: DeliveryMode | None = None  # None on subscribe: the list's default
    token: str | None = None
    nomail: bool | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """A line that is not a command, or a command with a bad argument."""

    line: str
    reason: str


@dataclass(frozen=True, slots=True)
class Parsed:
    items: tuple[Command | Problem, ...]
    rest: tuple[str, ...]  # the lines not read
    ended_by: Ending


_Handler = Callable[[str, str, list[str]], Command | Problem]  # (line, verb word, arguments)

_TRAILING = ".!?,;:"  # "help." and "unsubscribe!" are commands too
_ADDRESS_KEY = re.compile(r"^address=", re.IGNORECASE)  # "subscribe address=bob@example.org"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,}")
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")  # incl. undecodable bytes
_FILLER = "me"  # "unsubscribe me" names the sender, as no address does
_SUBSCRIBE_OPTIONS = {
    "digest": DeliveryMode.DIGEST_MIME,
    "nodigest": DeliveryMode.REGULAR,
    "digest=mime": DeliveryMode.DIGEST_MIME,
    "digest=plain": DeliveryMode.DIGEST_PLAIN,
    "digest=no": DeliveryMode.REGULAR,
}
# set OPTION VALUE: what the values may be, and what each one means.
_SETTINGS: dict[str, tuple[str, dict[str, DeliveryMode | bool]]] = {
    "delivery": ("regular, digest-mime, digest-plain or nomail",
                 {mode.value: mode for mode in DeliveryMode}),
    "digest": ("mime, plain or off", {"mime": DeliveryMode.DIGEST_MIME,
                                      "plain": DeliveryMode.DIGEST_PLAIN,
                                      "off": DeliveryMode.REGULAR}),
    "nomail": ("on or off", {"on": True, "off": False}),
}
_STOPPED = {
    Ending.END: "- Stopped reading at the end command.",
    Ending.TOO_MANY_UNRECOGNISED:
        f"- Stopped reading after {MAX_UNRECOGNISED} lines that were not commands.",
    Ending.TOO_MANY_COMMANDS:
        f"- Stopped reading after {MAX_COMMANDS} commands; send the rest in another message.",
}
_WIDTH = 76  # plain mail clients show 78 columns; leave room for their quoting


def parse(subject: str, lines: Sequence[str]) -> Parsed:
    """Read the subject, then the body lines, into commands and problems.

    A subject that is not a valid command is ignored (most subjects are not
    commands). Blank lines and repeats of a command are skipped silently.
    """
    heading = _read(subject)
    items: list[Command | Problem] = [heading] if isinstance(heading, Command) else []
    commands, unrecognised = len(items), 0
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        item = _read(line)
        if item is None:
            return Parsed(tuple(items), _unread(lines, index + 1), Ending.END)
        if commands >= MAX_COMMANDS or unrecognised >= MAX_UNRECOGNISED:
            ending = (Ending.TOO_MANY_COMMANDS if commands >= MAX_COMMANDS
                      else Ending.TOO_MANY_UNRECOGNISED)
            return Parsed(tuple(items), _unread(lines, index), ending)
        if isinstance(item, Problem) and item.reason == NOT_A_COMMAND:
            unrecognised += 1
        else:
            commands += 1
        if not _repeats(item, items):
            items.append(item)
    return Parsed(tuple(items), (), Ending.END_OF_MESSAGE)


def _repeats(item: Command | Problem, items: list[Command | Problem]) -> bool:
    """Whether a command was given before in other words ("confirm X" in subject and body)."""
    return isinstance(item, Command) and any(
        isinstance(seen, Command) and replace(item, line=seen.line) == seen for seen in items)


def _unread(lines: Sequence[str], start: int) -> tuple[str, ...]:
    """The lines from start on, without the blank lines that end them."""
    end = len(lines)
    while end > start and not lines[end - 1].strip():
        end -= 1
    return tuple(lines[start:end])


def _words(line: str) -> list[str]:
    """Split a line into words without trailing punctuation, a leading "please" or "/"."""
    words = [bare for word in line.split() if (bare := word.rstrip(_TRAILING))]
    if words[:1] and words[0].lower() == "please":
        words = words[1:]
    if words:
        words[0] = words[0].removeprefix("/")
    return words


def _is_end(words: list[str]) -> bool:
    """Whether a line ends the commands: "end", "stop", "quit", or thanks with anything after."""
    lowered = [word.lower() for word in words[:2]]
    if lowered[:1] == ["thanks"] or lowered == ["thank", "you"]:
        return True
    return len(words) == 1 and lowered[0] in {"end", "stop", "quit"}


def _read(line: str) -> Command | Problem | None:
    """Read one line as a command; None for a line that ends the commands."""
    line = line.strip()
    words = _words(line) if len(line) <= MAX_LINE else []
    if _is_end(words):
        return None
    handler = _HANDLERS.get(words[0].lower()) if words else None
    if handler is None:
        return Problem(line, NOT_A_COMMAND)
    return handler(line, words[0].lower(), words[1:])


def _bare(verb: Verb, line: str, word: str, args: list[str]) -> Command | Problem:
    """help, info, who: nothing may follow."""
    if args:
        return Problem(line, f'{word} takes nothing after it; write just "{word}"')
    return Command(verb, line)


def _membership(verb: Verb, options: Mapping[str, DeliveryMode],
                line: str, word: str, args: list[str]) -> Command | Problem:
    """subscribe/join [ADDRESS] [OPTION], unsubscribe/leave/signoff [ADDRESS]."""
    address: str | None = None
    delivery: DeliveryMode | None = None
    for arg in args:
        lowered = arg.lower()
        if lowered == _FILLER:
            continue
        if lowered in options:
            if delivery is not None:
                return Problem(line, "give at most one digest option")
            delivery = options[lowered]
        elif address is not None:
            return Problem(line, "give at most one address per line")
        elif (address := _address(arg)) is None:
            return Problem(line, _not_an_address(arg, options))
    return Command(verb, line, address=address, delivery=delivery)


def _address(arg: str) -> str | None:
    """An address as written: bare, in <...>, or after "address="; None when invalid."""
    text = _ADDRESS_KEY.sub("", arg, count=1)
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    try:
        return str(parse_address(text))
    except InvalidAddress:
        return None


def _not_an_address(arg: str, options: Mapping[str, DeliveryMode]) -> str:
    if options and "@" not in arg and not arg.startswith("<") and not _ADDRESS_KEY.match(arg):
        return f"{_quoted(arg)} is not a valid address or option (digest=mime|plain|no)"
    return f"{_quoted(arg)} is not a valid address"


def _set(line: str, word: str, args: list[str]) -> Command | Problem:
    """set delivery MODE, set nomail on|off, set digest mime|plain|off."""
    setting = _SETTINGS.get(args[0].lower()) if args else None
    if setting is None:
        return Problem(line, 'set takes delivery, nomail or digest; send "help" for more')
    choices, values = setting
    value = values.get(args[1].lower()) if len(args) == 2 else None
    if value is None:
        given = f", not {_quoted(' '.join(args[1:]))}" if args[1:] else ""
        return Problem(line, f"set {args[0].lower()} takes {choices}{given}")
    if isinstance(value, bool):
        return Command(Verb.SET_NOMAIL, line, nomail=value)
    return Command(Verb.SET_DELIVERY, line, delivery=value)


def _confirm(line: str, word: str, args: list[str]) -> Command | Problem:
    """confirm TOKEN, the token from a confirmation request."""
    if len(args) != 1:
        return Problem(line, "confirm takes one token, the one in the confirmation request")
    if not _TOKEN.fullmatch(args[0]):
        return Problem(line, f"{_quoted(args[0])} is not a valid confirmation token")
    return Command(Verb.CONFIRM, line, token=args[0])


_subscribe = partial(_membership, Verb.SUBSCRIBE, _SUBSCRIBE_OPTIONS)
_unsubscribe = partial(_membership, Verb.UNSUBSCRIBE, {})
_HANDLERS: dict[str, _Handler] = {
    "help": partial(_bare, Verb.HELP),
    "info": partial(_bare, Verb.INFO),
    "who": partial(_bare, Verb.WHO),
    "subscribe": _subscribe,
    "join": _subscribe,
    "unsubscribe": _unsubscribe,
    "leave": _unsubscribe,
    "signoff": _unsubscribe,
    "set": _set,
    "confirm": _confirm,
}


def format_results(results: Sequence[tuple[str, str]], parsed: Parsed) -> str:
    """The body of the answer: each line read with its result, why reading stopped,
    and the lines not read."""
    blocks = ["\n".join([_shorten("> " + _printable(line.strip())), *_indented(result)])
              for line, result in results]
    if parsed.ended_by in _STOPPED:
        blocks.append(_STOPPED[parsed.ended_by])
    if parsed.rest:
        shown = [_shorten("  " + _printable(line.rstrip())) for line in parsed.rest[:SHOWN_REST]]
        hidden = len(parsed.rest) - SHOWN_REST
        if hidden > 0:
            shown.append(f"  … and {hidden} more line{'s' if hidden > 1 else ''}")
        blocks.append("\n".join(["- Unprocessed:", *shown]))
    blocks.append("- Done.")
    return "\n\n".join(blocks) + "\n"


def _indented(text: str) -> list[str]:
    """Result text indented by two spaces, long lines wrapped (keeping their own indent)."""
    out: list[str] = []
    for raw in text.splitlines():
        line = "  " + _printable(raw.rstrip()) if raw.strip() else ""
        indent = line[:len(line) - len(line.lstrip())]
        out.extend(textwrap.wrap(line, _WIDTH, subsequent_indent=indent, break_long_words=False,
                                 break_on_hyphens=False) if len(line) > _WIDTH else [line])
    return out


def _printable(text: str) -> str:
    """Text safe to mail back: no control characters or undecodable bytes."""
    return _UNPRINTABLE.sub("?", text)


def _shorten(text: str, width: int = _WIDTH) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _quoted(word: str) -> str:
    return f'"{_shorten(_printable(word), 40)}"'
