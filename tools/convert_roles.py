"""Convert Sphinx roles in infoest's docstrings to Markdown that mkdocstrings renders.

- ``:math:`x``` becomes ``$x$`` (rendered by ``pymdownx.arithmatex``);
- ``:func:`name```, ``:class:``, ``:data:``, ``:mod:``, ``:attr:``, ``:meth:``, ``:obj:``,
  ``:exc:`` become a cross-reference ``[`name`][full.path]`` when the target is an object the
  site renders (listed in the site's ``objects.inv``), else plain code ``name``;
  ``~a.b.c`` shows ``c``; ``text <target>`` shows ``text``.

Targets are resolved like Sphinx does: as written, then relative to the module (and class)
the docstring is in, its package, and ``infoest``; an object imported under another name is
matched to its rendered name by identity.

Usage (from the repository root; re-run after merging branches that add docstrings)::

    python tools/convert_roles.py            # builds the site once for its inventory
    python tools/convert_roles.py --inventory site/objects.inv --check   # list, change nothing

Exit status 1 with ``--check`` when any role is left.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROLE = re.compile(r":(?:py:)?(func|class|data|mod|attr|meth|obj|exc|math):`([^`]+)`")
WIDTH = 100  # the project's line length (ruff)


def load_inventory(path: Path | None) -> set[str]:
    """Identifiers the built site renders (``objects.inv`` of mkdocstrings)."""
    from mkdocstrings import Inventory

    if path is None:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-d", tmp],
                           cwd=ROOT, check=True)
            with open(Path(tmp) / "objects.inv", "rb") as f:
                return set(Inventory.parse_sphinx(f))
    with open(path, "rb") as f:
        return set(Inventory.parse_sphinx(f))


def _import(name: str):
    """The object a dotted name refers to, or None."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except Exception:  # noqa: BLE001 - not a module: try a shorter prefix
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


class Resolver:
    """Maps a role target, seen in a given module, to a rendered identifier (or None)."""

    def __init__(self, rendered: set[str]):
        self.rendered = rendered
        self.by_id: dict[int, str] = {}
        for name in sorted(rendered, key=lambda n: (n.count("."), len(n))):
            obj = _import(name)
            if obj is not None and not isinstance(obj, int | float | str | tuple | bool):
                self.by_id.setdefault(id(obj), name)

    def candidates(self, target: str, module: str, klass: str | None) -> list[str]:
        package = module.rsplit(".", 1)[0]
        scopes = [f"{module}.{klass}"] if klass else []
        scopes += [module, package, "infoest"]
        return [target] + [f"{scope}.{target}" for scope in scopes]

    def resolve(self, target: str, module: str, klass: str | None = None) -> str | None:
        for name in self.candidates(target, module, klass):
            if name in self.rendered:
                return name
        for name in self.candidates(target, module, klass):
            obj = _import(name)
            if obj is not None and id(obj) in self.by_id:
                return self.by_id[id(obj)]
        return None


def _split(text: str) -> tuple[str, str]:
    """(display, target) of a role body: ``~a.b``, ``shown <a.b>`` or ``a.b``."""
    match = re.fullmatch(r"(.*?)\s*<([^>]+)>", text, re.S)
    if match:
        return match.group(1), match.group(2)
    if text.startswith("~"):
        return text[1:].rsplit(".", 1)[-1], text[1:]
    return text, text


def _enclosing_class(source: str, offset: int) -> str | None:
    """The class whose body contains ``offset`` (the nearest ``class X`` above, unindented)."""
    found = None
    for match in re.finditer(r"^class (\w+)", source[:offset], re.M):
        found = match.group(1)
    if found is None:
        return None
    after = source[:offset].rsplit(f"class {found}", 1)[1]
    return None if re.search(r"^\S", after.split("\n", 1)[-1], re.M) else found


def docstring_lines(source: str) -> set[int]:
    """0-based line numbers inside module, class and function docstrings."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                          | ast.AsyncFunctionDef):
            continue
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            lines.update(range(body[0].lineno - 1, body[0].end_lineno))
    return lines


def convert_text(source: str, module: str, resolver: Resolver) -> tuple[str, int]:
    """Convert the roles of one file; cross-references and re-wrapping only in docstrings
    (elsewhere, e.g. a message built in an f-string, a role becomes plain code)."""
    count = 0
    in_docstring = docstring_lines(source)

    def replace(match: re.Match) -> str:
        nonlocal count
        count += 1
        role, body = match.group(1), match.group(2)
        if role == "math":
            return f"${body.strip()}$"
        display, target = _split(body)
        target = target.strip().rstrip("()")
        klass = _enclosing_class(source, match.start())
        name = resolver.resolve(target, module, klass)
        if name is None or source.count("\n", 0, match.start()) not in in_docstring:
            return f"`{display}`"
        return f"[`{display}`][{name}]"

    converted = ROLE.sub(replace, source)
    old, new = source.split("\n"), converted.split("\n")
    if len(old) == len(new):
        lines = []
        for i, (before, after) in enumerate(zip(old, new, strict=True)):
            lines += wrap(after) if after != before and i in in_docstring else [after]
        converted = "\n".join(lines)
    return converted, count


ARG = re.compile(r"^\s{4,}\*{0,2}\w+(, \w+)*( \([^)]*\))?: ")


def _can_break(prefix: str) -> bool:
    """A space after ``prefix`` is outside code spans, math and link brackets."""
    return (prefix.count("`") % 2 == 0 and prefix.count("$") % 2 == 0
            and prefix.count("[") == prefix.count("]"))


def wrap(line: str, width: int = WIDTH) -> list[str]:
    """Split a docstring line longer than ``width`` at spaces outside code, math and links;
    continuation lines keep the indentation (+4 under an ``name: description`` argument)."""
    indent = len(line) - len(line.lstrip())
    more = indent + 4 if ARG.match(line) else indent
    out = []
    while len(line) > width:
        cut = None
        for i in range(width, indent, -1):
            if line[i] == " " and _can_break(line[:i]):
                cut = i
                break
        if cut is None:
            break
        out.append(line[:cut].rstrip())
        line = " " * more + line[cut + 1:].lstrip()
        indent = more
    out.append(line)
    return out


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=["infoest"])
    parser.add_argument("--inventory", type=Path, default=None,
                        help="objects.inv of a built site (default: build one)")
    parser.add_argument("--check", action="store_true", help="list roles, change nothing")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    files = sorted(p for arg in args.paths for p in (ROOT / arg).rglob("*.py"))
    if args.check:
        left = [(f, m.group(0)) for f in files for m in ROLE.finditer(f.read_text())]
        for f, role in left:
            print(f"{f.relative_to(ROOT)}: {role}")
        return 1 if left else 0
    resolver = Resolver(load_inventory(args.inventory))
    total = 0
    for path in files:
        source = path.read_text()
        converted, count = convert_text(source, module_name(path), resolver)
        if count:
            path.write_text(converted)
            print(f"{path.relative_to(ROOT)}: {count} role(s)")
            total += count
    print(f"{total} role(s) converted")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
