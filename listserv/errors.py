# SPDX-License-Identifier: Apache-2.0
"""The exceptions listserv raises on purpose.

ListservError
├── ConfigError          a site setting is wrong; start-up stops (exit 2)
├── InvalidAddress       an address that is not a valid mailbox
├── SettingError         an unknown per-list setting or a bad value for one
├── NotFound             no such list or member
├── Conflict             the list or member exists already
└── Unprocessable        stored mail that cannot be processed as things stand; kept as failed
"""


class ListservError(Exception):
    """Base of every error listserv raises deliberately."""


class ConfigError(ListservError):
    """A site setting is missing or wrong."""


class InvalidAddress(ListservError):
    """An address is not a valid mailbox."""


class SettingError(ListservError):
    """A per-list or per-member setting is unknown or has a bad value."""


class NotFound(ListservError):
    """The list or member named does not exist."""


class Conflict(ListservError):
    """The list or member exists already."""


class Unprocessable(ListservError):
    """Stored mail cannot be processed as things stand (its list is gone); kept as failed."""
