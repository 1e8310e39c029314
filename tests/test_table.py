"""Tables split by columns to fit a terminal (rung._table), printed on a rich Console of 80 columns."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from rung._table import print_tables, split_columns


def test_columns_are_split_into_tables_that_fit() -> None:
    # _width: each column takes its content + 3, the table 1 more.
    assert split_columns([5, 10, 10], 2, 80) == [[0, 1, 2]]
    assert split_columns([5, 10, 30, 30, 30], 2, 80) == [[0, 1, 2], [0, 3, 4]]  # 8 + 13 + 33 + 33 + 1 > 80
    assert split_columns([5, 70, 30], 2, 80) == [[0, 1], [0, 2]]  # the first table is full already
    assert split_columns([5, 100], 1, 80) == [[0, 1]]  # a column too wide for any table still goes somewhere


def _printed(headers: list[str], rows: list[list[str]], fixed: int) -> str:
    console = Console(width=80, record=True, markup=False, emoji=False, color_system=None)
    with console.capture() as capture:
        print_tables(console, [Text(h) for h in headers], [[Text(c) for c in row] for row in rows], fixed)
    return capture.get()


def test_no_value_is_broken_over_lines_and_only_a_value_wider_than_the_terminal_is_cut() -> None:
    long = "x" * 120
    headers = ["trial", "status", *(f"hyperparameter_{i}" for i in range(6)), "note"]
    rows = [["1", "TERMINATED", *(f"value_{i}_{'a' * i}" for i in range(6)), long]]
    out = _printed(headers, rows, 2)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    cells = [cell.strip() for line in lines for cell in line.split("│")[1:-1]]
    assert all(f"value_{i}_{'a' * i}" in cells for i in range(6))
    heads = [cell.strip() for line in lines if line.startswith("┃") for cell in line.split("┃")[1:-1]]
    assert all(f"hyperparameter_{i}" in heads for i in range(6))
    cut = [c for c in cells if c.startswith("xxx")]
    assert len(cut) == 1 and cut[0].endswith("…") and len(cut[0]) < 80  # one line, cut, marked as cut


def test_numbers_are_right_aligned_and_text_left() -> None:
    out = _printed(["trial", "lr", "act"], [["1*", "0.1", "relu"], ["2", "0.00123", "tanh"]], 1)
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert rows[0] == "│    1* │     0.1 │ relu │"
    assert rows[1] == "│     2 │ 0.00123 │ tanh │"
