"""The floor plan holds: stages import one way, every SQL file is in the run order once, no
module or function grows past what a reader takes in at one sitting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from linkage import pipeline

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "linkage"
STAGES = ("generation", "ingest", "quality", "linking", "review", "estimation",
          "reporting")
"""In run order: a stage may import the stages before it, never one after it."""
COMPOSERS = ("linkage.study", "linkage.simulate", "linkage.cli", "linkage.cli_simulate")
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def _composer(module: str) -> bool:
    """A composer or one of its submodules (``linkage.simulate.matrix``)."""
    return any(module == c or module.startswith(c + ".") for c in COMPOSERS)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every ``linkage`` module a file imports, anywhere in it (function bodies and
    ``TYPE_CHECKING`` blocks included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("linkage")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = here.split(".")[: -node.level if path.name != "__init__.py"
                                       else len(here.split(".")) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            if mod.startswith("linkage"):
                out.add(mod)
                # `from linkage.x import y` may import the submodule linkage.x.y
                out |= {f"{mod}.{a.name}" for a in node.names
                        if (PACKAGE.parent / f"{mod}.{a.name}".replace(".", "/")).with_suffix(
                            ".py").exists()
                        or (PACKAGE.parent / f"{mod}.{a.name}".replace(".", "/")).is_dir()}
    return out - {here}


def _graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    return {_module_name(p): _imports(p) for p in files}


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def test_no_import_cycle() -> None:
    graph = _graph()
    known = set(graph)
    edges = {m: {i for i in deps if i in known} for m, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(edges[m]):
            if state.get(d) == 1:
                cycle = path[path.index(d):] + [d] if d in path else [m, d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d, [*path, d])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])


def test_stages_import_one_way_and_nothing_imports_the_composers() -> None:
    problems = []
    for module, deps in _graph().items():
        mine = _stage(module)
        for dep in deps:
            if any(dep == c or dep.startswith(c + ".") for c in COMPOSERS):
                if not _composer(module):
                    problems.append(f"{module} imports {dep} (only the CLI composes study)")
                continue
            theirs = _stage(dep)
            if mine is None or theirs is None or theirs == mine:
                continue  # the kernel, or within a stage
            if mine == "reporting":
                problems.append(f"{module} imports {dep}: reporting imports no other stage")
            elif STAGES.index(theirs) > STAGES.index(mine):
                problems.append(f"{module} ({mine}) imports {dep} ({theirs}), a later stage")
        if _stage(module) is None and not _composer(module) and module != "linkage":
            stages = sorted({_stage(d) for d in deps} - {None})
            if stages:
                problems.append(f"kernel module {module} imports stage(s) {stages}")
    cli_deps = _graph()["linkage.cli"]
    assert "linkage.cli" not in {d for deps in _graph().values() for d in deps}
    assert cli_deps, "the CLI imports something"
    assert not problems, "\n".join(problems)


def test_every_sql_file_is_listed_exactly_once_in_the_run_order() -> None:
    on_disk = sorted(p.relative_to(ROOT / "sql").as_posix() for p in (ROOT / "sql").rglob("*.sql"))
    listed = [s.file for _, group in pipeline.RUN_ORDER for s in group]
    assert len(listed) == len(set(listed)), "a file is listed twice"
    assert sorted(listed) == on_disk


def test_every_table_has_one_owner_stage() -> None:
    for _, group in pipeline.RUN_ORDER:
        for step in group:
            assert step.owner in STAGES, step
            if not step.macros:
                assert pipeline.owner(step.table) == step.owner


def test_build_table_refuses_an_unlisted_file() -> None:
    from linkage.db import build_table, connect

    with pytest.raises(KeyError, match="not listed"):
        build_table(connect(), "marts/made_up.sql")
    with pytest.raises(ValueError, match="macro file"):
        build_table(connect(), "staging/stg_macros.sql")


def test_no_sql_file_patches_a_table() -> None:
    """Tables are built once: no UPDATE, DELETE or INSERT in the SQL or the package."""
    import re

    pattern = re.compile(r"\b(update\s+\w+\s+set|delete\s+from|insert\s+into)\b", re.I)
    offenders = [p.relative_to(ROOT).as_posix() for p in (ROOT / "sql").rglob("*.sql")
                 if pattern.search(p.read_text(encoding="utf-8"))]
    # the generator appends its tips in chunks to a scratch table of its own work database
    # (national scale does not fit one batch); that database is deleted after the files
    # are written, and no study table is ever patched
    allowed = {"linkage/generation/records.py"}
    offenders += [p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py")
                  if pattern.search(p.read_text(encoding="utf-8"))
                  and p.relative_to(ROOT).as_posix() not in allowed]
    assert not offenders


def test_no_module_over_the_size_limit() -> None:
    long = {p.relative_to(ROOT).as_posix(): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, long


def test_no_function_over_the_size_limit() -> None:
    long = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT).as_posix()}:{node.name}"] = n
    assert not long, long


def test_stage_packages_export_only_what_exists() -> None:
    import importlib

    for stage in STAGES:
        package = importlib.import_module(f"linkage.{stage}")
        for name in package.__all__:
            assert getattr(package, name) is not None, f"linkage.{stage}.{name}"
