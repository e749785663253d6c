"""The pure core imports no I/O library: the adapters import the core, never the reverse.

The walk follows every local module a core module imports, ``from pkg import module`` included,
and covers the simulator (every ``sim/`` module but its adapters)."""

import ast
from pathlib import Path

import pytest

from config.settings import REPO_ROOT

CORE = [
    "ivr/machine.py", "ivr/hours.py", "ivr/prompts.py", "routing/router.py",
    "cdr/correlator.py", "config/models.py", "aiguilleur/confgen.py", "queues/ami_parse.py",
    "queues/state.py", "queues/snapshot.py", "queues/state_seed.py", "cdr/kpi.py", "routing/ranking.py",
    "routing/rebase.py", "routing/explain.py", "routing/rules.py", "queues/callback.py", "queues/followup.py",
    "appointments/offices.py", "appointments/invitation.py", "cdr/vocabulary.py", "ivr/agi_codec.py",
    "cdr/spreadsheet.py", "queues/member_mirror.py", "queues/state_merge.py",
]
SIM_ADAPTERS = {"fit_io.py"}  # reads the cdr table for ``aiguilleur sim fit``
SIM = sorted(f"sim/{p.name}" for p in (REPO_ROOT / "sim").glob("*.py") if p.name not in SIM_ADAPTERS)
FORBIDDEN = {"asyncio", "socket", "asyncpg", "aiohttp", "panoramisk", "subprocess", "structlog",
             "ivr.fastagi", "queues.ami", "cdr.writer", "cdr.record_sql", "aiguilleur.database", "sandbox", "rich",
             *(f"sim.{name.removesuffix('.py')}" for name in SIM_ADAPTERS)}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # from routing import router
    return names


def local_module_file(name: str) -> Path | None:
    candidate = REPO_ROOT / (name.replace(".", "/") + ".py")
    return candidate if candidate.is_file() else None


@pytest.mark.parametrize("module", [*CORE, *SIM])
def test_core_module_reaches_no_io_library(module: str) -> None:
    seen: set[Path] = set()
    todo = [REPO_ROOT / module]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_modules(path):
            top = {name, name.split(".")[0]}
            # Nor the CLI: tables and progress bars are drawn at the edge, the core hands over cells.
            assert not (top & FORBIDDEN) and not name.startswith("aiguilleur.cli"), (
                f"{module} reaches {name} through {path.relative_to(REPO_ROOT)}")
            local = local_module_file(name)
            if local is not None:
                todo.append(local)


def test_the_walk_sees_a_module_imported_from_its_package(tmp_path: Path) -> None:
    source = tmp_path / "core.py"
    source.write_text("from aiguilleur import database\nfrom cdr.kpi import CallFacts\n", encoding="utf-8")
    assert {"aiguilleur.database", "cdr.kpi"} <= imported_modules(source)
