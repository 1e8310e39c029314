"""Tables of trials for a terminal of any width: a column per hyperparameter, no value broken.

`rung show` prints a trial per row and a column per hyperparameter. A table wider than the terminal
is split by columns into several tables printed one under the other, each led by the trial column
(so a row is found again by its id): the first holds the trial's status and metrics and as many
hyperparameters as fit, the next ones the rest. No cell wraps; a value wider than the whole
terminal is the only one cut, with an ellipsis, never broken over lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["print_tables", "split_columns"]


def _width(columns: Sequence[int]) -> int:
    """The width of a rich table (its default box, padding 1) with columns of these content widths."""
    return sum(w + 3 for w in columns) + 1


def split_columns(widths: Sequence[int], fixed: int, total: int) -> list[list[int]]:
    """Which columns each table holds: column 0 (the trial) in every table, columns 1..fixed-1 in the
    first, then the rest in order, as many per table as fit in `total` characters (at least one)."""
    groups: list[list[int]] = [list(range(fixed))]
    for column in range(fixed, len(widths)):
        if groups[-1] != [0] and _width([widths[i] for i in [*groups[-1], column]]) > total:
            groups.append([0])
        groups[-1].append(column)
    return groups


def print_tables(console: Console, headers: Sequence[Text], rows: Sequence[Sequence[Text]], fixed: int) -> None:
    """Print `rows` under `headers` in as many tables as `console.width` needs (see the module)."""
    widths = [max([h.cell_len, *(row[i].cell_len for row in rows)]) for i, h in enumerate(headers)]
    groups = split_columns(widths, fixed, console.width)
    for n, group in enumerate(groups):
        title = None if n == 0 else f"columns, continued ({n + 1} of {len(groups)})"
        table = Table(title=title, title_justify="left")
        room = console.width - _width([widths[0]]) - 3  # what a column beside the trial's may take, at most
        for i in group:
            cut = i != 0 and widths[i] > room
            table.add_column(
                headers[i],
                no_wrap=True,
                overflow="ellipsis" if cut else "fold",
                min_width=None if cut else widths[i],
                max_width=room if cut else None,
                justify="right" if _numeric([row[i] for row in rows]) else "left",
            )
        for row in rows:
            table.add_row(*(row[i] for i in group))
        console.print(table)


def _numeric(cells: Sequence[Any]) -> bool:
    """Whether every non-empty cell reads as a number (right-aligned, as numbers are)."""
    seen = False
    for cell in cells:
        text = str(cell).rstrip("*")
        if not text:
            continue
        try:
            float(text)
        except ValueError:
            return False
        seen = True
    return seen
