"""Sphinx configuration: MyST Markdown pages, built with

    python -m sphinx -W -b html docs docs/_build/html
"""
import re
from pathlib import Path

project = "pyengine"
author = "pyengine contributors"
copyright = "pyengine contributors"
# The version is pyproject.toml's; read as text so that building the docs
# needs neither the compiled extension nor an installed package.
version = release = re.search(
    r'^version\s*=\s*"([^"]+)"', (Path(__file__).parent.parent / "pyproject.toml").read_text(), re.M
).group(1)

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]
html_theme = "alabaster"
