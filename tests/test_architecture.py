"""The layering rules, checked on the source: who may import whom, no cycles, sizes.

- `intent_server` never imports torch, sentence-transformers or the trainer (the server
  runs without them; tests/intent_server/core/test_intent_model.py checks the running
  process too);
- the trainer uses the server package only through its torch-free core;
- nothing imports the developer tools (`tools/`, which may import everything);
- the core imports nothing of the transports (`grpc`, `serving`, `client`);
- each transport (`intent_server.grpc`, `intent_server.http`) imports neither the other nor
  the process that assembles both (`intent_server.process`, `workers`, `__main__`);
- inside the trainer, a layer imports only the layers below it (`TRAINER_LAYERS`);
- the tests mirror the package tree: every test folder is a package folder;
- no import cycle among the project's modules;
- no folder over 12 modules, no module over 450 lines, no function over 60 lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.paths import ROOT

PACKAGES = ("intent_server", "trainer", "bench", "tools")
MAX_MODULES_PER_FOLDER = 12
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
# Lowest first. `errors`, `logs`, `staging`, `metrics` (scores of answers: calibration
# counts its thresholds' cost with them), `entity_metrics` (scores of entity spans) and
# `markdown` (report tables) serve every layer.
# The pipeline orchestrates training and fine-tuning, so it sits above both; export reads
# what the pipeline wrote.
TRAINER_LAYERS = (
    "data",
    "features",
    "calibration",
    "training",
    "tagging",
    "finetune",
    "pipeline",
    "export",
    "evaluation",
    "cli",
)
TRAINER_SHARED = ("errors", "logs", "staging", "metrics", "entity_metrics", "markdown")
# Test folders that are not a package's mirror.
TEST_SUPPORT = ("fixtures", "data", "e2e", "__pycache__")


def _is_generated(path: Path) -> bool:
    return "_pb2" in path.name


def source_files(packages: tuple[str, ...] = PACKAGES) -> list[Path]:
    return sorted(
        path
        for package in packages
        for path in (ROOT / package).rglob("*.py")
        if not _is_generated(path)
    )


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path) -> Iterator[str]:
    """Every module named by an import statement (anywhere in the file), as written; for
    `from X import Y` both X and X.Y (Y may be a submodule)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def project_imports(path: Path, modules: set[str]) -> set[str]:
    return {name for name in imported_names(path) if name in modules} - {module_name(path)}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = source_files()
    modules = {module_name(path) for path in files}
    return {module_name(path): project_imports(path, modules) for path in files}


def test_the_server_never_imports_torch_or_the_trainer() -> None:
    forbidden = ("torch", "sentence_transformers", "transformers", "trainer")
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in source_files(("intent_server",))
        for name in imported_names(path)
        if name.split(".")[0] in forbidden
    ]
    assert not found


def test_nothing_imports_the_developer_tools() -> None:
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in source_files(("intent_server", "trainer", "bench"))
        for name in imported_names(path)
        if name.split(".")[0] == "tools"
    ]
    assert not found


def test_the_trainer_uses_only_the_servers_core() -> None:
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in source_files(("trainer",))
        for name in imported_names(path)
        if name.startswith("intent_server") and not name.startswith("intent_server.core")
    ]
    assert not found


def test_the_core_knows_no_transport() -> None:
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / "intent_server" / "core").rglob("*.py")
        for name in imported_names(path)
        if name.split(".")[0] in ("grpc", "grpc_health", "prometheus_client")
        or (name.startswith("intent_server.") and not name.startswith("intent_server.core"))
    ]
    assert not found


TRANSPORTS = ("grpc", "http")
PROCESS_MODULES = ("process", "workers", "__main__")


def _server_part(name: str) -> str:
    """`intent_server.grpc.server` -> `grpc`; "" outside the server package."""
    parts = name.split(".")
    return parts[1] if parts[0] == "intent_server" and len(parts) > 1 else ""


def test_each_transport_knows_neither_the_other_nor_the_process() -> None:
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for transport in TRANSPORTS
        for path in (ROOT / "intent_server" / transport).rglob("*.py")
        for name in imported_names(path)
        if (part := _server_part(name)) != transport and part in (*TRANSPORTS, *PROCESS_MODULES)
    ]
    assert not found


def _trainer_layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "trainer" or len(parts) < 2 or parts[1] in TRAINER_SHARED:
        return None
    return TRAINER_LAYERS.index(parts[1])


def test_trainer_layers_import_only_downwards(graph: dict[str, set[str]]) -> None:
    modules = [module for module in graph if module.startswith("trainer.")]
    unplaced = [m for m in modules if m.split(".")[1] not in (*TRAINER_LAYERS, *TRAINER_SHARED)]
    assert not unplaced, f"trainer modules in no layer of TRAINER_LAYERS: {unplaced}"
    upward = [
        f"{module} imports {target}"
        for module in modules
        for target in sorted(graph[module])
        if (low := _trainer_layer(module)) is not None
        and (high := _trainer_layer(target)) is not None
        and high > low
    ]
    assert not upward, upward


def test_tests_mirror_the_packages() -> None:
    tests = ROOT / "tests"
    strays = [
        str(folder.relative_to(ROOT))
        for folder in tests.rglob("*")
        if folder.is_dir()
        and not set(folder.relative_to(tests).parts) & set(TEST_SUPPORT)
        and not (ROOT / folder.relative_to(tests)).is_dir()
    ]
    assert not strays, f"test folders that mirror no package folder: {strays}"


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(module: str, stack: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target, [*stack, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, [" -> ".join(cycle) for cycle in cycles]


def test_folders_modules_and_functions_stay_small() -> None:
    files = source_files() + sorted((ROOT / "tests").rglob("*.py"))
    folders: dict[Path, int] = {}
    for path in files:
        if path.name != "__init__.py":
            folders[path.parent] = folders.get(path.parent, 0) + 1
    crowded = {
        str(k.relative_to(ROOT)): n for k, n in folders.items() if n > MAX_MODULES_PER_FOLDER
    }
    assert not crowded, f"folders over {MAX_MODULES_PER_FOLDER} modules: {crowded}"
    long_modules = {
        str(path.relative_to(ROOT)): lines
        for path in files
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long_modules, f"modules over {MAX_MODULE_LINES} lines: {long_modules}"
    long_functions = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)"
        for path in source_files()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (lines := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    ]
    assert not long_functions, f"functions over {MAX_FUNCTION_LINES} lines: {long_functions}"
