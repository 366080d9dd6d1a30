# SPDX-License-Identifier: Apache-2.0
import pytest

from listserv.core.search import MAX_TERMS, fts5_match, terms, unmarked


@pytest.mark.parametrize(("query", "expected"), [
    ("pump seals", ["pump", "seals"]),
    ('  "pump  seals" AND -x ', ['"pump', 'seals"', "AND", "-x"]),
    ("* ^ - ( )", []),
    ("pump\x00valve\ttab", ["pump", "valve", "tab"]),
    ("pump Pump pump", ["pump", "Pump"]),
    ("", []),
])
def test_terms_are_the_words_with_a_letter_or_digit(query: str, expected: list[str]) -> None:
    assert terms(query) == expected


def test_terms_are_capped() -> None:
    assert len(terms(" ".join(f"w{n}" for n in range(100)))) == MAX_TERMS
    assert terms("x" * 500) == ["x" * 100]


def test_fts5_match_quotes_every_word() -> None:
    assert fts5_match(['"pump', "AND", "a*b"]) == '"""pump" "AND" "a*b"'


def test_unmarked() -> None:
    assert unmarked("\x02pump\x03 x") == "pump x"
