"""The import structure of infoest: no import cycles, no private name used across families.

Families are the top-level subpackages and modules of ``infoest`` (``knn``, ``gaussian``,
``spectral``, ``score``, ``temporal``, ``variational``, ``multivariate``, ``tasks``, ``bench``,
``cli``). The shared layers below may be imported from anywhere, private names included:
``ops``, ``nn``, ``train``, ``_checks``, ``_estimate``, ``_registry``, ``_contract``, ``_api``.
A family uses another family only through its public names (no ``_name``, no ``_module``),
and a shared layer only through its public names.

Imports are read statically with ``ast``, including those inside functions (a cycle hidden in
a function is still a cycle). Known violations are listed in ``KNOWN`` as strict xfails:
delete an entry once it is fixed (it then XPASSes, which fails).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "infoest"
SHARED = {"ops", "nn", "train", "_checks", "_estimate", "_registry", "_contract", "_api"}

#: Known violations (issue #15 item 3): check -> {key: reason}.
KNOWN: dict[str, dict[str, str]] = {
    "cycles": {},
    "private": {
    },
}


def module_names() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = module_names()


def _resolve(name: str) -> str | None:
    """The infoest module a dotted name lives in (the longest module prefix)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        candidate = ".".join(parts[:i])
        if candidate in MODULES:
            return candidate
    return None


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str) -> list[tuple[str, str]]:
    """(imported module, imported name or '') pairs of one module, function bodies included;
    attribute accesses ``alias._private`` on an imported infoest module count as names."""
    tree = ast.parse(MODULES[module].read_text())
    out: list[tuple[str, str]] = []
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name)
                if target and alias.name.startswith("infoest"):
                    out.append((target, ""))
                    if alias.asname:
                        aliases[alias.asname] = target
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            if not source.startswith("infoest"):
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in MODULES:
                    out.append((submodule, ""))
                    aliases[alias.asname or alias.name] = submodule
                elif _resolve(source):
                    out.append((_resolve(source), alias.name))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in aliases and node.attr.startswith("_") \
                and not node.attr.startswith("__"):
            out.append((aliases[node.value.id], node.attr))
    return out


def family(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for target, _ in imports(module):
            if target != module and not module.startswith(target + "."):
                edges[module].add(target)  # a parent package runs first anyway
    return edges


def cycles() -> list[str]:
    """Strongly connected components with more than one module (Tarjan)."""
    edges, index, low, stack, on_stack, found = graph(), {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(" <-> ".join(sorted(component)))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def private_imports() -> list[str]:
    """``importer -> module.name`` for every private name or module used across families."""
    found = []
    for module in MODULES:
        mine = family(module)
        for target, name in imports(module):
            theirs = family(target)
            if not mine or theirs == mine or not theirs:
                continue
            # a shared layer's modules may be private (``_checks``), its private names not
            private_module = theirs not in SHARED and any(
                p.startswith("_") for p in target.split(".")[2:])
            if name.startswith("_") or private_module:
                found.append(f"{module} -> {target}{'.' + name if name else ''}")
    return sorted(set(found))


def _param(check: str, key: str):
    reason = KNOWN[check].get(key)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(key, id=key, marks=marks)


def test_no_new_import_cycle():
    new = [c for c in cycles() if c not in KNOWN["cycles"]]
    assert not new, "import cycles:\n" + "\n".join(new)


def test_no_new_private_import_across_families():
    new = [p for p in private_imports() if p not in KNOWN["private"]]
    assert not new, "private names imported across families:\n" + "\n".join(new)


@pytest.mark.parametrize("key", [_param("cycles", k) for k in KNOWN["cycles"]] or
                         [pytest.param(None, id="none")])
def test_known_cycle_still_present(key):
    """Fails (XPASS) once a listed cycle is gone: then delete its ``KNOWN`` entry."""
    if key is not None:
        assert key not in cycles()


@pytest.mark.parametrize("key", [_param("private", k) for k in KNOWN["private"]] or
                         [pytest.param(None, id="none")])
def test_known_private_import_still_present(key):
    """Fails (XPASS) once a listed private import is gone: then delete its ``KNOWN`` entry."""
    if key is not None:
        assert key not in private_imports()


def test_function_length():
    """No function in infoest is longer than 80 lines (issue #15); ``KNOWN_LONG`` lists the
    current exceptions, and an entry that is no longer long must be deleted."""
    long, seen = [], set()
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                key = f"{module}.{node.name}"
                if lines > 80:
                    seen.add(key)
                    if key not in KNOWN_LONG:
                        long.append(f"{key}: {lines} lines")
    assert not long, "\n".join(long)
    assert not KNOWN_LONG - seen, f"no longer over 80 lines, delete: {KNOWN_LONG - seen}"


#: Functions over 80 lines today (delete when split).
KNOWN_LONG = {"infoest.spectral._dse.dse"}
