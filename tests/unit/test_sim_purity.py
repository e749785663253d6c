"""The simulator's core imports no I/O library; only ``sim.fit_io`` reads the database."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from config.settings import REPO_ROOT

ADAPTERS = {"fit_io.py"}
FORBIDDEN = {"asyncio", "socket", "asyncpg", "aiohttp", "panoramisk", "subprocess", "structlog",
             "ivr.fastagi", "queues.ami", "cdr.writer", "aiguilleur.database", "sandbox", "sim.fit_io"}
CORE = sorted(p.name for p in (REPO_ROOT / "sim").glob("*.py") if p.name not in ADAPTERS)


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # from routing import router
    return names


@pytest.mark.parametrize("module", CORE)
def test_sim_core_module_reaches_no_io_library(module: str) -> None:
    seen: set[Path] = set()
    todo = [REPO_ROOT / "sim" / module]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_modules(path):
            assert not ({name, name.split(".")[0]} & FORBIDDEN), f"sim/{module} reaches {name} via {path.name}"
            local = REPO_ROOT / (name.replace(".", "/") + ".py")
            if local.is_file():
                todo.append(local)
