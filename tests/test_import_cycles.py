"""Imports point one way: media -> model -> core -> batch -> eval / report. No circle between modules.

The rule, checked by parsing every module of the package (ast, nothing is imported):

- an edge A -> B is an ``import`` / ``from ... import`` in A naming module B (``from pkg import name``
  is an edge to ``pkg.name`` when that is a module, else to ``pkg``). The parent packages Python
  imports on the way are not edges, and neither are imports under ``if TYPE_CHECKING:``;
- **module-level imports** (at the top of a module, or in a module-level ``if`` / ``try``) must form
  no cycle at all: importing any module never re-enters one half-initialised;
- **every import**, function-level ones included, must form no cycle either, except the lazy upward
  imports listed in :data:`LAZY_UPWARD` (a convenience method reaching a higher layer at call time),
  each with its reason. Lazy imports are otherwise only for optional heavy packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "videoqa"

LAZY_UPWARD = {
    ("videoqa.analysis", "videoqa.report"): "Analysis.to_html() renders with the report layer",
    ("videoqa.video._segments", "videoqa.video._pyav"): "segment reads assemble clips with the PyAV reader",
}
"""Function-level imports allowed to point against the layering (A -> B at call time)."""


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(tree: ast.AST, *, module_level: bool) -> list[ast.Import | ast.ImportFrom]:
    """Import statements of a module: at module level (incl. module-level if/try), or anywhere."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)) and (top or not module_level):
                found.append(child)
            nested = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, top and not nested)

    visit(tree, True)
    return found


def _graph(*, module_level: bool) -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        edges = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8")), module_level=module_level):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    here = name.split(".") if is_package else name.split(".")[:-1]
                    here = here[: len(here) - (node.level - 1)]
                    base = ".".join([*here, *([base] if base else [])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_module_level_imports_form_no_cycle():
    assert _cycles(_graph(module_level=True)) == []


def test_no_cycle_even_through_function_level_imports_but_the_listed_ones():
    graph = _graph(module_level=False)
    for (source, target), _reason in LAZY_UPWARD.items():
        assert target in graph[source], f"{source} -> {target} is listed but no longer imported: unlist it"
        graph[source].discard(target)
    assert _cycles(graph) == []


def test_the_checker_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
