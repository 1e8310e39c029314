"""A griffe extension for the API reference: rung's docstrings head their doctests `Example:`.

Google style allows the singular, but griffe reads `Example:` as an admonition (its doctest lines
then render as nested quotes); this renames the header to `Examples:` before the docstring is
parsed, so the doctests render as code. rung's sources are left as they are.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_HEADER = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Renames `Example:` section headers to `Examples:` in every loaded docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _HEADER.sub(r"\1Examples:", obj.docstring.value)
