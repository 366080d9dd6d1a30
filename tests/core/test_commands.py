# SPDX-License-Identifier: Apache-2.0
from collections.abc import Iterator

import pytest

from listserv.core.commands import (
    MAX_COMMANDS,
    MAX_UNRECOGNISED,
    NOT_A_COMMAND,
    Command,
    Ending,
    Parsed,
    Problem,
    Verb,
    format_results,
    parse,
)
from listserv.core.policy import DeliveryMode

MIME, PLAIN = DeliveryMode.DIGEST_MIME, DeliveryMode.DIGEST_PLAIN
REGULAR, NOMAIL = DeliveryMode.REGULAR, DeliveryMode.NOMAIL
TOKEN = "AbCdEf0123456789_-xyz"
BOB = "bob@example.org"


@pytest.mark.parametrize(("line", "expected"), [
    ("help", Command(Verb.HELP, "help")),
    ("HELP", Command(Verb.HELP, "HELP")),
    ("  Help.  ", Command(Verb.HELP, "Help.")),
    ("/help", Command(Verb.HELP, "/help")),
    ("help?", Command(Verb.HELP, "help?")),
    ("info", Command(Verb.INFO, "info")),
    ("Info!", Command(Verb.INFO, "Info!")),
    ("who", Command(Verb.WHO, "who")),
    ("please who", Command(Verb.WHO, "please who")),
    ("subscribe", Command(Verb.SUBSCRIBE, "subscribe")),
    ("SUBSCRIBE", Command(Verb.SUBSCRIBE, "SUBSCRIBE")),
    ("Join", Command(Verb.SUBSCRIBE, "Join")),
    ("/subscribe", Command(Verb.SUBSCRIBE, "/subscribe")),
    ("Please, subscribe me.", Command(Verb.SUBSCRIBE, "Please, subscribe me.")),
    ("subscribe bob@example.org", Command(Verb.SUBSCRIBE, "subscribe bob@example.org", BOB)),
    ("subscribe <bob@example.org>", Command(Verb.SUBSCRIBE, "subscribe <bob@example.org>", BOB)),
    ("subscribe Bob@Example.ORG", Command(Verb.SUBSCRIBE, "subscribe Bob@Example.ORG",
                                          "Bob@example.org")),
    ("subscribe address=bob@example.org digest=plain",
     Command(Verb.SUBSCRIBE, "subscribe address=bob@example.org digest=plain", BOB, PLAIN)),
    ("subscribe DIGEST=MIME Address=<bob@example.org>.",
     Command(Verb.SUBSCRIBE, "subscribe DIGEST=MIME Address=<bob@example.org>.", BOB, MIME)),
    ("join digest", Command(Verb.SUBSCRIBE, "join digest", delivery=MIME)),
    ("join nodigest", Command(Verb.SUBSCRIBE, "join nodigest", delivery=REGULAR)),
    ("subscribe digest=no", Command(Verb.SUBSCRIBE, "subscribe digest=no", delivery=REGULAR)),
    ("unsubscribe", Command(Verb.UNSUBSCRIBE, "unsubscribe")),
    ("please unsubscribe", Command(Verb.UNSUBSCRIBE, "please unsubscribe")),
    ("Unsubscribe me!", Command(Verb.UNSUBSCRIBE, "Unsubscribe me!")),
    ("leave", Command(Verb.UNSUBSCRIBE, "leave")),
    ("SignOff.", Command(Verb.UNSUBSCRIBE, "SignOff.")),
    ("unsubscribe bob@example.org.", Command(Verb.UNSUBSCRIBE, "unsubscribe bob@example.org.",
                                             BOB)),
    ("set delivery regular", Command(Verb.SET_DELIVERY, "set delivery regular",
                                     delivery=REGULAR)),
    ("set delivery digest-mime", Command(Verb.SET_DELIVERY, "set delivery digest-mime",
                                         delivery=MIME)),
    ("Set Delivery Digest-Plain", Command(Verb.SET_DELIVERY, "Set Delivery Digest-Plain",
                                          delivery=PLAIN)),
    ("set delivery nomail", Command(Verb.SET_DELIVERY, "set delivery nomail", delivery=NOMAIL)),
    ("set nomail on", Command(Verb.SET_NOMAIL, "set nomail on", nomail=True)),
    ("SET NOMAIL OFF.", Command(Verb.SET_NOMAIL, "SET NOMAIL OFF.", nomail=False)),
    ("set digest mime", Command(Verb.SET_DELIVERY, "set digest mime", delivery=MIME)),
    ("set digest plain", Command(Verb.SET_DELIVERY, "set digest plain", delivery=PLAIN)),
    ("set   digest   off", Command(Verb.SET_DELIVERY, "set   digest   off", delivery=REGULAR)),
    (f"confirm {TOKEN}", Command(Verb.CONFIRM, f"confirm {TOKEN}", token=TOKEN)),
    (f"CONFIRM {TOKEN}.", Command(Verb.CONFIRM, f"CONFIRM {TOKEN}.", token=TOKEN)),
])
def test_each_verb_and_alias_is_read(line: str, expected: Command) -> None:
    assert parse("", [line]) == Parsed((expected,), (), Ending.END_OF_MESSAGE)


NOT_VALID_OR_OPTION = "is not a valid address or option (digest=mime|plain|no)"
SET_DELIVERY = "set delivery takes regular, digest-mime, digest-plain or nomail"


@pytest.mark.parametrize(("line", "reason"), [
    ("help me", 'help takes nothing after it; write just "help"'),
    ("info about the list", 'info takes nothing after it; write just "info"'),
    ("Who is on it?", 'who takes nothing after it; write just "who"'),
    ("subscribe not-an-address", f'"not-an-address" {NOT_VALID_OR_OPTION}'),
    ("join digest=weekly", f'"digest=weekly" {NOT_VALID_OR_OPTION}'),
    ("subscribe bob@example", '"bob@example" is not a valid address'),
    ("subscribe <bob@>", '"<bob@>" is not a valid address'),
    ("subscribe address=nobody", '"address=nobody" is not a valid address'),
    ("subscribe \udcff", f'"?" {NOT_VALID_OR_OPTION}'),
    ("subscribe bob\udcff@example.org", '"bob?@example.org" is not a valid address'),
    ("subscribe bob@example.org carol@example.org", "give at most one address per line"),
    ("subscribe digest nodigest", "give at most one digest option"),
    ("unsubscribe digest", '"digest" is not a valid address'),
    ("leave bob@example.org carol@example.org", "give at most one address per line"),
    ("signoff from this list", '"from" is not a valid address'),
    ("set", 'set takes delivery, nomail or digest; send "help" for more'),
    ("set colour blue", 'set takes delivery, nomail or digest; send "help" for more'),
    ("set delivery weekly", f'{SET_DELIVERY}, not "weekly"'),
    ("set delivery", SET_DELIVERY),
    ("set nomail maybe", 'set nomail takes on or off, not "maybe"'),
    ("set digest mime please", 'set digest takes mime, plain or off, not "mime please"'),
    ("confirm", "confirm takes one token, the one in the confirmation request"),
    ("confirm short", '"short" is not a valid confirmation token'),
    ("confirm abc$def0123456789xyz", '"abc$def0123456789xyz" is not a valid confirmation token'),
    (f"confirm {TOKEN} {TOKEN}", "confirm takes one token, the one in the confirmation request"),
])
def test_bad_arguments_are_problems_saying_what_is_wrong(line: str, reason: str) -> None:
    assert parse("", [line]).items == (Problem(line, reason),)


@pytest.mark.parametrize("line", [
    "Hello, I would like to join.",
    "please",
    "/",
    "subscribe\x00",
    "help" + " " * 1000 + "x",  # longer than 1,000 characters
    "stop sending me mail",
])
def test_other_lines_are_not_commands(line: str) -> None:
    assert parse("", [line]).items == (Problem(line.strip(), NOT_A_COMMAND),)


def test_empty_input_gives_nothing() -> None:
    assert parse("", []) == Parsed((), (), Ending.END_OF_MESSAGE)
    assert parse("  ", ["", "   ", "\t"]) == Parsed((), (), Ending.END_OF_MESSAGE)


def test_a_subject_alone_is_a_command() -> None:
    expected = Command(Verb.CONFIRM, f"confirm {TOKEN}", token=TOKEN)
    assert parse(f"confirm {TOKEN}", []) == Parsed((expected,), (), Ending.END_OF_MESSAGE)


@pytest.mark.parametrize("subject", [
    "Question", "Join us for dinner", "Help with my subscription", "subscribe \udcff",
    "confirm short", "thanks", "", "x" * 5000,
])
def test_a_subject_that_is_no_valid_command_is_neither_counted_nor_reported(subject: str) -> None:
    body = ["a", "b", "c", "d", "subscribe"]
    parsed = parse(subject, body)
    assert parsed.items == (*(Problem(line, NOT_A_COMMAND) for line in "abcd"),
                            Command(Verb.SUBSCRIBE, "subscribe"))
    assert parsed.ended_by == Ending.END_OF_MESSAGE


def test_blank_lines_are_skipped() -> None:
    parsed = parse("", ["", "help", "  ", "who", ""])
    assert parsed.items == (Command(Verb.HELP, "help"), Command(Verb.WHO, "who"))


@pytest.mark.parametrize("end", [
    "end", "END.", "stop", "Quit!", "thanks", "Thanks, Bob", "thank you very much",
    "please end",
])
def test_reading_stops_at_an_end_line(end: str) -> None:
    parsed = parse("help", ["who", end, "subscribe", "", "hello", "", "  "])
    assert parsed == Parsed((Command(Verb.HELP, "help"), Command(Verb.WHO, "who")),
                            ("subscribe", "", "hello"), Ending.END)


def test_reading_stops_after_five_unrecognised_lines_and_returns_the_rest() -> None:
    body = ["Hi,", "help", "a", "", "b", "c", "d", "e", "subscribe"]
    parsed = parse("", body)
    assert [item.line for item in parsed.items] == ["Hi,", "help", "a", "b", "c", "d"]
    assert sum(isinstance(item, Problem) for item in parsed.items) == MAX_UNRECOGNISED
    assert (parsed.rest, parsed.ended_by) == (("e", "subscribe"), Ending.TOO_MANY_UNRECOGNISED)


def test_five_unrecognised_lines_at_the_end_are_the_end_of_the_message() -> None:
    parsed = parse("", ["help", "a", "b", "c", "d", "e", ""])
    assert (len(parsed.items), parsed.rest, parsed.ended_by) == (6, (), Ending.END_OF_MESSAGE)


def test_reading_stops_after_twenty_commands_counting_subject_and_bad_arguments() -> None:
    body = ["set delivery weekly", *(f"subscribe user{n}@example.org" for n in range(25))]
    parsed = parse("help", body)
    assert len(parsed.items) == MAX_COMMANDS
    assert parsed.items[:2] == (Command(Verb.HELP, "help"),
                                Problem("set delivery weekly", f'{SET_DELIVERY}, not "weekly"'))
    assert parsed.rest == tuple(body[MAX_COMMANDS - 1:])
    assert parsed.ended_by == Ending.TOO_MANY_COMMANDS


def test_an_end_line_after_twenty_commands_still_ends() -> None:
    body = [*(f"subscribe user{n}@example.org" for n in range(MAX_COMMANDS)), "end"]
    assert parse("", body).ended_by == Ending.END


@pytest.mark.parametrize(("subject", "body"), [
    (f"confirm {TOKEN}", [f"confirm {TOKEN}"]),  # a reply to a confirmation request
    ("subscribe", ["Subscribe.", "please subscribe", "subscribe me"]),
])
def test_a_repeated_command_is_read_once(subject: str, body: list[str]) -> None:
    assert len(parse(subject, body).items) == 1


class CountedLines(list[str]):
    """Lines that count how many were read in order."""

    read = 0

    def __iter__(self) -> Iterator[str]:
        for line in super().__iter__():
            self.read += 1
            yield line


@pytest.mark.parametrize("line", ["This is a post, sent to the wrong address.", "help"])
def test_ten_thousand_lines_are_read_only_up_to_a_limit(line: str) -> None:
    lines = CountedLines([line] * 10_000)
    parsed = parse("", lines)
    assert lines.read <= MAX_COMMANDS + 1
    assert len(parsed.items) <= MAX_UNRECOGNISED
    assert len(parsed.rest) >= 10_000 - MAX_COMMANDS


def test_a_huge_line_is_not_a_command() -> None:
    line = "subscribe " + "x" * 10_000_000
    assert parse(line, [line]).items == (Problem(line, NOT_A_COMMAND),)


def test_answer_quotes_each_line_with_its_result_then_the_rest() -> None:
    body = ["subscribe bob@example.org", "set delivery weekly", "hello", "a", "b", "c", "d",
            *(f"line {n}" for n in range(22))]
    parsed = parse("Re: our list", body)
    results = [(item.line, "Subscribed bob@example.org.\n\nWelcome!" if isinstance(item, Command)
                else item.reason) for item in parsed.items]
    unprocessed = "".join(f"  line {n}\n" for n in range(20))
    assert format_results(results, parsed) == f"""\
> subscribe bob@example.org
  Subscribed bob@example.org.

  Welcome!

> set delivery weekly
  set delivery takes regular, digest-mime, digest-plain or nomail, not
  "weekly"

> hello
  not a command

> a
  not a command

> b
  not a command

> c
  not a command

> d
  not a command

- Stopped reading after 5 lines that were not commands.

- Unprocessed:
{unprocessed}  … and 2 more lines

- Done.
"""


@pytest.mark.parametrize(("rest", "tail"), [
    (1, "  line 0\n\n- Done.\n"),
    (21, "  line 19\n  … and 1 more line\n\n- Done.\n"),
])
def test_answer_counts_the_lines_it_does_not_show(rest: int, tail: str) -> None:
    parsed = parse("", ["end", *(f"line {n}" for n in range(rest))])
    answer = format_results([], parsed)
    assert answer.startswith("- Stopped reading at the end command.\n\n- Unprocessed:\n")
    assert answer.endswith(tail)


def test_answer_to_a_whole_message_has_no_note() -> None:
    parsed = parse("help", [])
    assert format_results([("help", "Commands:\n  help\n  who")], parsed) == (
        "> help\n  Commands:\n    help\n    who\n\n- Done.\n")


def test_answer_is_safe_and_narrow_for_odd_lines() -> None:
    line = "subscribe \udcff\x00" + "x" * 200
    parsed = parse("", [line, "\udcff", "a", "b", "c", "d"])
    answer = format_results([(item.line, item.reason) for item in parsed.items
                             if isinstance(item, Problem)], parsed)
    answer.encode("utf-8")  # no lone surrogates left
    assert "\x00" not in answer
    assert max(len(text) for text in answer.splitlines()) <= 76
    assert answer.splitlines()[0] == "> subscribe ??" + "x" * 61 + "…"
