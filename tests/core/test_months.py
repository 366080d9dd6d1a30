# SPDX-License-Identifier: Apache-2.0
from datetime import UTC, date, datetime

import pytest

from listserv.core.months import Month, by_day, by_year, month_of, parse_month


@pytest.mark.parametrize(("key", "month"), [
    ("2005-01", Month(2005, 1)), ("1999-12", Month(1999, 12)), ("2005-13", None),
    ("2005-00", None), ("2005-1", None), ("05-01", None), ("0000-01", None),
    ("9999-12", None), ("2005-01x", None), ("", None)])
def test_a_month_from_its_key(key: str, month: Month | None) -> None:
    assert parse_month(key) == month
    if month is not None:
        assert month.key == key


def test_month_bounds_and_label() -> None:
    assert (Month(2004, 12).start, Month(2004, 12).end) == (
        datetime(2004, 12, 1, tzinfo=UTC), datetime(2005, 1, 1, tzinfo=UTC))
    assert Month(2005, 2).end == datetime(2005, 3, 1, tzinfo=UTC)
    assert Month(2005, 2).label == "February 2005"
    assert month_of(2005, 0) is None


@pytest.mark.parametrize(("month", "previous", "next_"), [
    (Month(2005, 1), Month(2004, 12), Month(2005, 2)),
    (Month(2005, 12), Month(2005, 11), Month(2006, 1)),
    (Month(1, 1), None, Month(1, 2)),
    (Month(9998, 12), Month(9998, 11), None)])
def test_the_months_around(month: Month, previous: Month | None, next_: Month | None) -> None:
    assert (month.previous, month.next) == (previous, next_)


def test_months_by_year_newest_year_first() -> None:
    counts = {Month(2004, 11): 3, Month(2005, 2): 1, Month(2004, 2): 7, Month(2005, 1): 4}
    assert by_year(counts) == [(2005, [(Month(2005, 1), 4), (Month(2005, 2), 1)]),
                               (2004, [(Month(2004, 2), 7), (Month(2004, 11), 3)])]


def test_items_by_day() -> None:
    items = [(1, date(2005, 1, 3)), (2, date(2005, 1, 3)), (3, date(2005, 1, 9))]
    assert by_day(items, lambda item: item[1]) == [
        (date(2005, 1, 3), items[:2]), (date(2005, 1, 9), items[2:])]
