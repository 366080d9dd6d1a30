# SPDX-License-Identifier: Apache-2.0
"""The argument parser: usage errors as one line, and the shared --json flag."""

import argparse
import json
import sys
from typing import Any, NoReturn, TypeAlias

Commands: TypeAlias = "argparse._SubParsersAction[Parser]"


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Report a usage error in one line (argparse would print the whole usage first)."""
        print(f"listserv: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def assignment(text: str) -> str:
    """A KEY=VALUE argument; anything else is a usage error (exit 2), not a bad value."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return text


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
