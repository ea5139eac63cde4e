"""Protocol logic reads as the specifications read: no I/O libraries imported (STYLE.md)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
MODULES = sorted((ROOT / "services/token/oauth").glob("*.py")) + [ROOT / "shared/jws.py"]
FORBIDDEN = {"aiohttp", "asyncpg", "redis", "nats"}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_protocol_modules_import_no_io_library(path):
    assert not imported(path) & FORBIDDEN
