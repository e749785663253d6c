"""The pure core imports no I/O library: the adapters import the core, never the reverse."""

import ast
from pathlib import Path

import pytest

from config.settings import REPO_ROOT

CORE = [
    "ivr/machine.py", "ivr/hours.py", "ivr/prompts.py", "routing/router.py",
    "cdr/correlator.py", "config/models.py", "aiguilleur/confgen.py", "queues/ami_parse.py",
    "queues/state.py", "cdr/kpi.py",
]
FORBIDDEN = {"asyncio", "socket", "asyncpg", "aiohttp", "panoramisk", "subprocess", "structlog",
             "ivr.fastagi", "queues.ami", "cdr.writer", "aiguilleur.database", "sandbox"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def local_module_file(name: str) -> Path | None:
    candidate = REPO_ROOT / (name.replace(".", "/") + ".py")
    return candidate if candidate.is_file() else None


@pytest.mark.parametrize("module", CORE)
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
            assert not (top & FORBIDDEN), f"{module} reaches {name} through {path.relative_to(REPO_ROOT)}"
            local = local_module_file(name)
            if local is not None:
                todo.append(local)
