"""mkdocs hooks: serve MathJax from the installed ``sphinx-mathjax-offline`` package.

The rendered formulas (``pymdownx.arithmatex``, generic mode) are typeset by MathJax 3's
single-file SVG build, copied into the site at ``javascripts/mathjax/tex-svg.js``, so the
documentation renders offline and loads nothing from a CDN.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from mkdocs.structure.files import File

MATHJAX = "sphinx-mathjax-offline/static/mathjax/tex-svg.js"
DEST = "javascripts/mathjax/tex-svg.js"


def mathjax_source() -> Path:
    """The MathJax build shipped by the ``sphinx-mathjax-offline`` package (a docs dependency)."""
    try:
        path = importlib.metadata.distribution("sphinx-mathjax-offline").locate_file(MATHJAX)
    except importlib.metadata.PackageNotFoundError as err:
        raise RuntimeError("the docs need `pip install -e \".[docs]\"` (MathJax is served from "
                           "the sphinx-mathjax-offline package)") from err
    return Path(str(path))


def on_files(files, config):
    source = mathjax_source()
    files.append(File.generated(config, DEST, abs_src_path=str(source)))
    return files
