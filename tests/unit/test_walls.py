"""The walls of the design: the import contracts (``[tool.importlinter]``, run by ``make lint``) can
fail, and each image's dependencies (the core plus its service's extra) are what its package imports."""

from __future__ import annotations

import ast
import functools
import importlib.metadata as metadata
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
FIRST_PARTY = frozenset({"udb", "gateway", "registry", "redis_svc", "mongo_svc", "pg_svc"})
#: Each package's source, and the extra its image installs (None: the core, in every image).
PACKAGES: dict[str, tuple[Path, str | None]] = {
    "udb": (REPO / "udb", None),
    "gateway": (REPO / "services/gateway/gateway", "gateway"),
    "registry": (REPO / "services/registry/registry", "registry"),
    "redis_svc": (REPO / "services/redis-svc/redis_svc", "redis"),
    "mongo_svc": (REPO / "services/mongo-svc/mongo_svc", "mongo"),
    "pg_svc": (REPO / "services/pg-svc/pg_svc", "pg"),
}
DOCKERFILES = {"gateway": "gateway", "registry": "registry", "redis-svc": "redis", "mongo-svc": "mongo", "pg-svc": "pg"}
#: `lint-imports`, as `make lint` runs it.
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
#: Requirements a package uses without importing them, and why.
USED_BY_NAME = {
    "httptools": "uvicorn's HTTP parser, chosen by name in gateway/__main__.py",
}


# ---- the import contracts ----------------------------------------------------------------------


def _lint_imports(cwd: Path, pythonpath: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache"],
        cwd=cwd,
        env={"PYTHONPATH": pythonpath, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_each_import_contract_fails_on_a_forbidden_import(tmp_path: Path) -> None:
    """In a copy of the packages with one forbidden import per wall (udb importing the gateway, the
    gateway importing asyncpg, the registry importing redis_svc), `lint-imports` with the repository's
    own contracts fails and names each of the four contracts broken."""
    src = tmp_path / "src"
    for name, (path, _) in PACKAGES.items():
        shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (src / "udb" / "walls_probe.py").write_text("import gateway.app\n")
    (src / "gateway" / "walls_probe.py").write_text("import asyncpg\n")
    (src / "registry" / "walls_probe.py").write_text("import redis_svc.servicer\n")
    # The copy comes first on the path, so the graph is the copy's (the repository's own holds).
    result = _lint_imports(tmp_path, str(src))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Contracts: 0 kept, 4 broken." in result.stdout
    assert "udb.walls_probe -> gateway.app" in result.stdout
    assert "gateway.walls_probe -> asyncpg" in result.stdout
    assert "registry.walls_probe -> redis_svc.servicer" in result.stdout


# ---- each image's dependencies ------------------------------------------------------------------


@functools.cache
def _module_owners() -> dict[str, str]:
    """Every installed module's dotted name and the distribution that installs it."""
    owners: dict[str, str] = {}
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        for file in dist.files or ():
            parts = file.parts
            if not parts or parts[0].endswith((".dist-info", ".data")) or ".." in parts:
                continue
            last = parts[-1]
            if last.endswith(".py"):
                stem = last[: -len(".py")]
            elif last.endswith((".so", ".pyd")):
                stem = last.split(".")[0]
            else:
                continue
            dotted = [*parts[:-1], *([] if stem == "__init__" else [stem])]
            owners.setdefault(".".join(dotted), name)
    return owners


def _owner(module: str) -> str:
    """The distribution that installs ``module`` (the longest dotted prefix that one installs)."""
    owners = _module_owners()
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        found = owners.get(".".join(parts[:end]))
        if found is not None:
            return found
    raise AssertionError(f"no installed distribution provides {module!r}")


def _imported_distributions(path: Path) -> set[str]:
    """The third-party distributions a package's own modules import (generated stubs aside)."""
    found: set[str] = set()
    for file in path.rglob("*.py"):
        if "v1" in file.relative_to(path).parts:
            continue
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # ``from opentelemetry import trace``: the name may be a module of a namespace package.
                modules = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                if top not in FIRST_PARTY and top not in sys.stdlib_module_names and top != "__future__":
                    found.add(_owner(module))
    return found


def _requirements(extra: str | None) -> list[Requirement]:
    project = PYPROJECT["project"]
    listed = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return [Requirement(text) for text in listed]


def _installed_closure(requirements: list[Requirement]) -> set[str]:
    """The distributions that installing ``requirements`` brings, with their extras' dependencies."""
    seen: set[str] = set()
    pending = [(requirement, frozenset(requirement.extras)) for requirement in requirements]
    while pending:
        requirement, extras = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(name) or ():
            child = Requirement(text)
            if child.marker is None or any(child.marker.evaluate({"extra": extra}) for extra in {"", *extras}):
                pending.append((child, frozenset(child.extras)))
    return seen


@pytest.mark.parametrize("package", list(PACKAGES))
def test_each_package_imports_only_what_its_image_installs(package: str) -> None:
    """Every third-party module a package imports is installed by the core's dependencies plus its
    service's extra (never by another service's extra)."""
    path, extra = PACKAGES[package]
    requirements = _requirements(None) + (_requirements(extra) if extra else [])
    missing = _imported_distributions(path) - _installed_closure(requirements)
    assert not missing, f"{package} imports {sorted(missing)}, which its image does not install"


@pytest.mark.parametrize("package", list(PACKAGES))
def test_each_extra_lists_only_what_its_package_uses(package: str) -> None:
    """Each requirement of the core (for udb) or of a service's extra is imported by that package,
    or named in USED_BY_NAME with its reason: an image installs nothing its service does not use."""
    path, extra = PACKAGES[package]
    imported = _imported_distributions(path)
    unused = {
        canonicalize_name(requirement.name)
        for requirement in _requirements(extra)
        if canonicalize_name(requirement.name) not in imported
    } - set(USED_BY_NAME)
    assert not unused, f"the {extra or 'core'} requirements {sorted(unused)} are not imported by {package}"


@pytest.mark.parametrize(("service", "extra"), list(DOCKERFILES.items()))
def test_each_image_installs_the_core_and_its_own_extra(service: str, extra: str) -> None:
    """Each Dockerfile installs the core's dependencies and its service's extra, and no other extra."""
    text = (REPO / "services" / service / "Dockerfile").read_text()
    assert "p['dependencies']" in text
    assert sorted(set(re.findall(r"\['optional-dependencies'\]\['(\w+)'\]", text))) == [extra]


def test_dev_installs_every_service_extra() -> None:
    """``.[dev]`` (what `make install` and the tests use) brings every service's extra."""
    (itself,) = [r for r in _requirements("dev") if canonicalize_name(r.name) == "unified-database-api"]
    assert itself.extras == {"gateway", "registry", "redis", "mongo", "pg"}
