# SPDX-License-Identifier: Apache-2.0
"""The import direction of docs/ARCHITECTURE.md, checked by reading every module's imports.

    cli -> app -> workers, web -> smtp, handling -> outbound, archive -> db -> core

settings and errors are importable anywhere; core imports only the standard
library (and flufl.bounce's parsers). A module in no known layer fails: a new
package or top-level module gets its place in ALLOWED first.
"""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "listserv"

# What each layer may import from listserv (besides ANYWHERE).
ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "db": {"core", "db"},
    "archive": {"core", "db", "offload"},
    "metrics": set(),
    "offload": set(),
    "smtp": {"core", "db", "smtp", "metrics"},
    "outbound": {"core", "db", "outbound", "offload"},
    "handling": {"core", "db", "archive", "outbound", "handling", "metrics", "offload"},
    "workers": {"core", "db", "handling", "outbound", "workers", "metrics", "offload"},
    "web": {"core", "db", "archive", "handling", "outbound", "web", "metrics", "offload"},
    "app": {"core", "db", "smtp", "workers", "web", "metrics"},
    "cli": {"core", "db", "archive", "handling", "outbound", "app", "cli"},
    "__init__": set(),
    "__main__": {"cli"},
}

ANYWHERE = {"settings", "errors", "logs", "__version__"}
# Third-party packages the core may use: flufl.bounce only parses messages it is handed
# (no I/O, no clock), and its detectors are the ones GNU Mailman relies on; re2
# (google-re2) is a matching engine that runs list patterns in linear time (#14.8).
CORE_THIRD_PARTY = {"flufl", "re2"}
MODULES = sorted(PACKAGE.rglob("*.py"))


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


def _id(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


@pytest.mark.parametrize("path", MODULES, ids=_id)
def test_every_module_has_a_layer(path: Path) -> None:
    assert layer(path) in ALLOWED.keys() | ANYWHERE, \
        f"{_id(path)} is in no layer: give it its place in ALLOWED and docs/ARCHITECTURE.md"


@pytest.mark.parametrize("path", MODULES, ids=_id)
def test_modules_import_only_lower_layers(path: Path) -> None:
    allowed = ALLOWED.get(layer(path))
    if allowed is None:
        return  # settings and errors: checked by the layers that import them
    for name in imports(path):
        parts = name.split(".")
        if parts[0] == "listserv" and len(parts) > 1 and parts[1] not in ANYWHERE:
            assert parts[1] in allowed, f"{_id(path)} imports {name}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").rglob("*.py")), ids=_id)
def test_core_uses_only_the_standard_library(path: Path) -> None:
    for name in imports(path):
        top = name.split(".")[0]
        assert top == "listserv" or top in sys.stdlib_module_names | CORE_THIRD_PARTY, \
            f"{_id(path)}: {name}"


@pytest.mark.parametrize("path", [p for p in MODULES if layer(p) in ANYWHERE], ids=_id)
def test_settings_and_errors_import_nothing_of_listserv_but_each_other(path: Path) -> None:
    for name in imports(path):
        parts = name.split(".")
        if parts[0] == "listserv" and len(parts) > 1:
            assert parts[1] in ANYWHERE, f"{_id(path)} imports {name}"
