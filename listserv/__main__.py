# SPDX-License-Identifier: Apache-2.0
"""Run the command line: python -m listserv."""

from listserv.cli import main

raise SystemExit(main())
