# SPDX-License-Identifier: Apache-2.0
"""Pages of a long listing: which page a visitor asked for, and what it holds."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Page:
    """Page number (from 1) of a listing of total items, size to a page."""

    number: int
    size: int
    total: int

    @property
    def count(self) -> int:
        """How many pages there are (one, however empty the listing)."""
        return max(1, -(-self.total // self.size))

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.count else None


MAX_PAGE = 1_000_000


def requested_page(requested: str | None) -> int:
    """The page number asked for (?page=N): 1 when missing or unreadable, at most MAX_PAGE."""
    try:
        return min(max(int(requested or "1"), 1), MAX_PAGE)
    except ValueError:
        return 1


def page_of(requested: str | None, total: int, size: int) -> Page:
    """The page asked for, kept within the listing."""
    return Page(min(requested_page(requested), Page(1, size, total).count), size, total)
