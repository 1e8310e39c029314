"""MkDocs hooks for the rung site (listed under `hooks:` in mkdocs.yml).

Pages include files from the repository root (BENCHMARKS.md) whose links point at other files of
the repository (`bench/results/compare/report.md`), which the site does not publish. Such a link,
if its target exists in the repository, becomes its text (the path stays readable); a link whose
target exists nowhere is left alone, so `mkdocs build --strict` still fails on it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]+)\]\((?P<target>[^)\s#]+)(?:#[^)\s]*)?\)")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    docs = Path(config["docs_dir"]).resolve()
    repo = docs.parent
    here = Path(page.file.abs_src_path).parent

    def unlink(match: re.Match[str]) -> str:
        target = match["target"]
        if "://" in target or target.startswith(("/", "mailto:")):
            return match[0]
        path = (here / target).resolve()
        outside = docs not in path.parents and path != docs
        if outside and repo in path.parents and path.exists():
            return match["text"]
        return match[0]

    return _LINK.sub(unlink, markdown)
