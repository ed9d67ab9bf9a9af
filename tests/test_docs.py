"""The documentation builds with ``mkdocs build --strict``, has no raw Sphinx role and renders
every formula with MathJax served from the site itself (no CDN)."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from convert_roles import ROLE  # noqa: E402

#: A Sphinx role as the built HTML shows it when nothing converted it.
RAW_ROLE = re.compile(r":(?:py:)?(func|class|data|mod|attr|meth|obj|exc|math|ref):(<code>|`)")
#: TeX that escaped arithmatex (a formula shown as text, not typeset).
RAW_TEX = re.compile(r"\$[^$<>\n]{0,200}\\[a-zA-Z]+|\\(frac|mathrm|mathbb|operatorname|log|sum)"
                     r"\b")


def test_no_sphinx_roles_in_docstrings():
    """Docstrings use Markdown: ``$...$`` math and ``[name][infoest.module.name]`` references
    (``python tools/convert_roles.py`` converts roles)."""
    left = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in sorted((ROOT / "infoest").rglob("*.py"))
            for m in ROLE.finditer(p.read_text())]
    assert not left, "\n".join(left)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d",
                             str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def _text_outside_math_and_code(html: str) -> str:
    html = re.sub(r'<(span|div) class="arithmatex">.*?</\1>', " ", html, flags=re.S)
    html = re.sub(r"<(code|pre|script|style)\b.*?</\1>", " ", html, flags=re.S)
    return html


#: Pages with known unrendered TeX (page -> cause); an entry whose page is clean must go.
KNOWN_UNRENDERED: dict[str, str] = {}


def test_site_has_no_raw_roles_or_unrendered_math(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 8
    problems, known = [], set()
    for page in pages:
        if str(page.relative_to(site)) in KNOWN_UNRENDERED:
            html = _text_outside_math_and_code(page.read_text())
            if RAW_TEX.search(html):
                known.add(str(page.relative_to(site)))
            continue
        html = page.read_text()
        problems += [f"{page.relative_to(site)}: raw role {m.group(0)}"
                     for m in RAW_ROLE.finditer(html)]
        text = _text_outside_math_and_code(html)
        problems += [f"{page.relative_to(site)}: unrendered TeX {m.group(0)!r}"
                     for m in RAW_TEX.finditer(text)]
    assert not problems, "\n".join(problems[:40])
    assert known == set(KNOWN_UNRENDERED), f"fixed, delete: {set(KNOWN_UNRENDERED) - known}"


def test_formulas_are_typeset_offline(site):
    variational = (site / "variational" / "index.html").read_text()
    assert variational.count('class="arithmatex"') >= 10  # the bounds' formulas
    assert (site / "javascripts" / "mathjax" / "tex-svg.js").stat().st_size > 1_000_000
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', variational)
    assert any(s.endswith("javascripts/mathjax/tex-svg.js") for s in scripts), scripts
    assert not [s for s in scripts if "mathjax" in s.lower() and "//" in s], scripts


def test_cross_references_resolve(site):
    """mkdocstrings turned ``[name][infoest...]`` into links (strict mode fails on unresolved
    ones); spot-check one from a converted docstring."""
    classical = (site / "classical" / "index.html").read_text()
    assert re.search(r'<a[^>]+href="[^"]*#infoest\.ops\.neighbors"', classical)


def test_version(capsys):
    from infoest.cli import main

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"infoest {importlib.metadata.version('infoest')}"
