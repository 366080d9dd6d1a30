# SPDX-License-Identifier: Apache-2.0
"""listserv: an asyncio mailing-list server."""

__version__ = "0.1.0"
