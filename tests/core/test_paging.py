# SPDX-License-Identifier: Apache-2.0
import pytest

from listserv.core.paging import MAX_PAGE, Page, page_of, requested_page


@pytest.mark.parametrize(("requested", "total", "number", "previous", "next_"), [
    (None, 0, 1, None, None),
    ("1", 120, 1, None, 2),
    ("2", 120, 2, 1, 3),
    ("3", 120, 3, 2, None),
    ("9", 120, 3, 2, None),
    ("0", 120, 1, None, 2),
    ("-4", 120, 1, None, 2),
    ("two", 120, 1, None, 2),
    ("", 50, 1, None, None),
])
def test_the_page_asked_for_within_the_listing(requested: str | None, total: int, number: int,
                                               previous: int | None, next_: int | None) -> None:
    page = page_of(requested, total, 50)
    assert (page.number, page.previous, page.next) == (number, previous, next_)
    assert page.offset == (number - 1) * 50


def test_page_count() -> None:
    assert [Page(1, 50, total).count for total in (0, 1, 50, 51, 100, 101)] == [1, 1, 1, 2, 2, 3]


@pytest.mark.parametrize(("requested", "number"), [
    (None, 1), ("7", 7), ("0", 1), ("x", 1), ("9" * 30, MAX_PAGE)])
def test_the_page_number_asked_for(requested: str | None, number: int) -> None:
    assert requested_page(requested) == number
