# SPDX-License-Identifier: Apache-2.0
"""The archive by month: a month named in a URL, its bounds, and listings grouped by
year and by day. Dates are UTC."""

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import groupby
from typing import TypeVar

T = TypeVar("T")
_KEY = re.compile(r"(\d{4})-(\d{2})")
_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    @property
    def key(self) -> str:
        """2005-01, as the database groups by and the mbox download is named."""
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def name(self) -> str:
        return _NAMES[self.month - 1]

    @property
    def label(self) -> str:
        return f"{self.name} {self.year}"

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The start of the next month (the bounds are [start, end))."""
        if self.month == 12:
            return datetime(self.year + 1, 1, 1, tzinfo=UTC)
        return datetime(self.year, self.month + 1, 1, tzinfo=UTC)

    @property
    def previous(self) -> "Month | None":
        return month_of(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    @property
    def next(self) -> "Month | None":
        return month_of(self.year + (self.month == 12), self.month % 12 + 1)


def month_of(year: int, month: int) -> Month | None:
    """The month, or None when there is no such month (or it has no end before 10000)."""
    return Month(year, month) if 1 <= year <= 9998 and 1 <= month <= 12 else None


def parse_month(key: str) -> Month | None:
    """The month a key such as 2005-01 names, or None."""
    match = _KEY.fullmatch(key)
    return month_of(int(match[1]), int(match[2])) if match else None


def by_year(counts: Mapping[Month, int]) -> list[tuple[int, list[tuple[Month, int]]]]:
    """Months with their counts grouped by year: newest year first, months in order."""
    ordered = sorted(counts.items(), key=lambda item: (-item[0].year, item[0].month))
    return [(year, list(months))
            for year, months in groupby(ordered, key=lambda item: item[0].year)]


def by_day(items: Iterable[T], day_of: Callable[[T], date]) -> list[tuple[date, list[T]]]:
    """Items (in date order) grouped by their day."""
    return [(day, list(group)) for day, group in groupby(items, key=day_of)]
