# SPDX-License-Identifier: Apache-2.0
"""The import direction of STYLE.md: cli -> app -> workers -> processing -> the flows
(confirmations, requests, moderation, subscriptions, bounces) -> outgoing -> archive, batch
-> db -> core; inbound and delivery sit beside processing."""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "listserv"

# What each layer may import from listserv (besides settings and errors).
ALLOWED = {
    "core": {"core"},
    "db": {"core", "db"},
    "migrations": {"db"},
    "intake": {"core", "db"},
    "inbound": {"core", "db", "intake"},
    "archive": {"core", "db"},
    "pipelining": set(),
    "delivery": {"pipelining"},
    "signing": {"core"},
    "batch": {"core", "db"},
    "resolver": set(),
    "dmarc": {"core", "resolver"},
    "authentication": {"core", "batch", "resolver"},
    "outgoing": {"core", "db", "archive", "batch", "dmarc", "authentication"},
    "moderation": {"core", "db", "batch", "outgoing"},
    "subscriptions": {"core", "db", "batch", "outgoing"},
    "requests": {"core", "db", "batch", "outgoing", "subscriptions"},
    "confirmations": {"core", "db", "batch", "outgoing", "moderation", "subscriptions"},
    "bounces": {"core", "db", "batch", "outgoing"},
    "digests": {"core", "db", "batch"},
    "processing": {"core", "db", "archive", "batch", "outgoing", "moderation", "confirmations",
                   "requests", "bounces"},
    "workers": {"core", "db", "batch", "processing", "moderation", "delivery", "bounces",
                "digests", "signing"},
    "app": {"core", "db", "intake", "inbound", "workers"},
}


ANYWHERE = {"settings", "errors", "__version__"}
# Third-party packages the core may use: flufl.bounce only parses messages it is handed
# (no I/O, no clock), and its detectors are the ones GNU Mailman relies on; re2
# (google-re2) is a matching engine that runs list patterns in linear time (#14.8).
CORE_THIRD_PARTY = {"flufl", "re2"}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "listserv":
            names.update(f"listserv.{alias.name}" for alias in node.names)  # from listserv import x
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.name))
def test_modules_import_only_lower_layers(path: Path) -> None:
    allowed = ALLOWED.get(layer(path))
    if allowed is None:
        return  # cli, settings, errors and the package root may import anything
    for name in imports(path):
        parts = name.split(".")
        if parts[0] == "listserv" and len(parts) > 1 and parts[1] not in ANYWHERE:
            assert parts[1] in allowed, f"{path.name} imports {name}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").rglob("*.py")), ids=lambda p: p.name)
def test_core_uses_only_the_standard_library(path: Path) -> None:
    for name in imports(path):
        top = name.split(".")[0]
        assert top == "listserv" or top in sys.stdlib_module_names | CORE_THIRD_PARTY, \
            f"{path.name}: {name}"
