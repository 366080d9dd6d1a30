# SPDX-License-Identifier: Apache-2.0
import pytest

from listserv.core.threading import MAX_PARENTS, parse_message_ids, reply_tree, thread_parents


@pytest.mark.parametrize(("text", "expected"), [
    ("<a@b>", ["<a@b>"]),
    ("<a@b> <c@d>", ["<a@b>", "<c@d>"]),
    ("<a@b><c@d>", ["<a@b>", "<c@d>"]),
    ("<a@b>\r\n\t<c@d>", ["<a@b>", "<c@d>"]),
    ("<folded\r\n @example.org>", ["<folded@example.org>"]),
    ("Your message of Mon, 3 Jan 2005 <123@host.example> (Alice)", ["<123@host.example>"]),
    ("<a@b> (comment <not-closed", ["<a@b>"]),
    ("1234@host.example", ["<1234@host.example>"]),  # brackets forgotten
    ("<Pine.LNX.4.44>", ["<Pine.LNX.4.44>"]),  # old ids without @ still match themselves
    ("<>", []),
    ("< >", []),
    ("no ids here", []),
    ("", []),
    ("\x00\udcff<x@y>\ufffd", ["<x@y>"]),
    ("<<<a@b>>>", ["<a@b>"]),
])
def test_message_ids_are_read_from_messy_headers(text: str, expected: list[str]) -> None:
    assert parse_message_ids(text) == expected


@pytest.mark.parametrize(("in_reply_to", "references", "expected"), [
    ("", "", []),
    ("<c@x>", "", ["<c@x>"]),
    ("", "<a@x> <b@x> <c@x>", ["<c@x>", "<b@x>", "<a@x>"]),
    ("<c@x>", "<a@x> <b@x> <c@x>", ["<c@x>", "<b@x>", "<a@x>"]),
    # In-Reply-To names the nearest parent even when References disagrees.
    ("<d@x>", "<a@x> <b@x>", ["<d@x>", "<b@x>", "<a@x>"]),
    ("<a@x> <a@x>", "<a@x> <a@x>", ["<a@x>"]),
    ("Alice's message of Monday", "<a@x> garbage <b@x>", ["<b@x>", "<a@x>"]),
])
def test_thread_parents_are_nearest_first(in_reply_to: str, references: str,
                                          expected: list[str]) -> None:
    assert thread_parents(in_reply_to, references) == expected


def test_long_references_keep_only_the_nearest_ancestors() -> None:
    references = " ".join(f"<{n}@x>" for n in range(1000))
    parents = thread_parents("", references)
    assert len(parents) == MAX_PARENTS
    assert parents[0] == "<999@x>"


def test_reply_tree_puts_each_post_under_its_nearest_earlier_ancestor() -> None:
    posts = [
        ("<a>", "", ""),  # 0
        ("<b>", "<a>", "<a>"),  # 1 reply to a
        ("<c>", "<a>", "<a>"),  # 2 reply to a
        ("<d>", "<b>", "<a> <b>"),  # 3 reply to b
        ("<e>", "<missing>", "<a> <missing>"),  # 4: parent never archived, grandparent a
        ("<f>", "<g>", ""),  # 5: refers to a later post only: a root
        ("<g>", "", ""),  # 6
        ("<a>", "", ""),  # 7: a repeated Message-ID; replies go to the first
        ("<h>", "<a>", ""),  # 8
    ]
    assert reply_tree(posts) == [(0, 0), (1, 1), (3, 2), (2, 1), (4, 1), (8, 1),
                                 (5, 0), (6, 0), (7, 0)]


def test_reply_tree_of_a_very_deep_thread() -> None:
    posts = [(f"<{n}>", f"<{n - 1}>" if n else "", "") for n in range(5000)]
    assert reply_tree(posts)[-1] == (4999, 4999)
