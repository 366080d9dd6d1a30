# SPDX-License-Identifier: Apache-2.0
"""The package as operators install it: the wheel with its migrations, and the lock file."""

import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from importlib.metadata import requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = ROOT / "requirements.lock"
# What a wheel is built from (the rest of the checkout stays out of the build).
BUILD_SOURCES = ("pyproject.toml", "README.md", "listserv", "migrations")
# The top-level migrations/ (and its versions/) ship as these.
MIGRATION_PACKAGES = {"listserv.migrations", "listserv.migrations.versions"}
SITE_PACKAGES = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
TABLES = {"alembic_version", "mailing_list", "member", "inbound", "delivery_job",
          "archived_message"}


def test_pyproject_names_every_package_folder() -> None:
    setuptools = PYPROJECT["tool"]["setuptools"]
    folders = {".".join(init.parent.relative_to(ROOT).parts)
               for init in (ROOT / "listserv").rglob("__init__.py")}
    missing = folders - set(setuptools["packages"])
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"
    assert set(setuptools["packages"]) == folders | MIGRATION_PACKAGES
    assert setuptools["package-dir"] == {"listserv.migrations": "migrations"}


def _build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in BUILD_SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(tmp_path / "dist"), str(source)], check=True)
    [wheel] = (tmp_path / "dist").glob("listserv-*.whl")
    return wheel


def _install(wheel: Path, venv: Path) -> None:
    """Install the wheel alone into a new venv that borrows the test environment's libraries."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--quiet", "--no-deps", "--no-index", str(wheel)], check=True)
    # Added after the install, and behind the venv's own site-packages: the dependencies
    # resolve from here (nothing to download), listserv itself from the wheel.
    ours = subprocess.run([python, "-c", SITE_PACKAGES], check=True, capture_output=True,
                          text=True).stdout.strip()
    borrowed = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (Path(ours) / "test-environment.pth").write_text("".join(f"{path}\n" for path in borrowed))


def _run(venv: Path, *args: str, env: dict[str, str]) -> str:
    result = subprocess.run([str(venv / "bin" / args[0]), *args[1:]], env=env, cwd=venv.parent,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_an_installed_wheel_migrates_its_database_and_runs(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    shipped = set(zipfile.ZipFile(wheel).namelist())
    for path in [*(ROOT / "listserv").rglob("*.py"), *(ROOT / "migrations").rglob("*")]:
        if path.is_file() and "__pycache__" not in path.parts:
            relative = path.relative_to(ROOT)
            inside = relative if relative.parts[0] == "listserv" else "listserv" / relative
            assert inside.as_posix() in shipped, f"{relative} is not in the wheel"

    venv = tmp_path / "venv"
    _install(wheel, venv)
    database = tmp_path / "var" / "listserv.db"
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("LISTSERV_") and name != "PYTHONPATH"}
    env["LISTSERV_DATABASE_URL"] = f"sqlite:///{database}"
    location = _run(venv, "python", "-c",
                    "from listserv.db.migrate import script_location; print(script_location())",
                    env=env)
    assert Path(location.strip()).is_relative_to(venv), location

    assert _run(venv, "listserv", "db", "upgrade", env=env).strip() == "database upgraded"
    with sqlite3.connect(database) as connection:
        tables = {name for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables >= TABLES
    _run(venv, "listserv", "lists", "create", "ops@example.com", env=env)
    assert "ops@example.com" in _run(venv, "listserv", "lists", "list", "--json", env=env)


def _locked() -> dict[str, tuple[str, list[str]]]:
    """The lock file's pins: name -> (version, hashes)."""
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in LOCK.read_text().replace("\\\n", " ").splitlines():
        requirement, *options = line.partition("#")[0].split() or [""]
        if requirement:
            name, _, version = requirement.partition("==")
            pins[canonicalize_name(name)] = (version, [o.removeprefix("--hash=") for o in options])
    return pins


def test_the_lock_file_pins_every_package_with_hashes() -> None:
    pins = _locked()
    assert pins
    for name, (version, hashes) in pins.items():
        assert version, f"{name} is not pinned with =="
        assert hashes and all(h.startswith("sha256:") for h in hashes), f"{name} has no hash"


def _runtime_requirements() -> list[Requirement]:
    """pyproject's dependencies, and those their extras (sqlalchemy[asyncio]) bring in."""
    direct = [Requirement(text) for text in PYPROJECT["project"]["dependencies"]]
    brought = [Requirement(text) for requirement in direct for extra in requirement.extras
               for text in requires(requirement.name) or []
               if (marker := Requirement(text).marker) and marker.evaluate({"extra": extra})]
    return direct + brought


def test_the_lock_file_covers_every_runtime_dependency() -> None:
    pins = _locked()
    for requirement in _runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is missing from requirements.lock"
        assert requirement.specifier.contains(pins[name][0]), \
            f"requirements.lock pins {name}=={pins[name][0]}, pyproject wants {requirement}"
