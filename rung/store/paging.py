"""Pages of an experiment's trials table, sorted and filtered by SQLite: what the dashboard's table
shows of an experiment too large to send whole (`GET /api/experiments/<name>/trials?offset=&limit=`).

Rows hold what `views.experiment_view` gives per trial (status as shown, config, last and best
result, iteration, error, parent, failures), read from the JSON columns of the page's rows only.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rung.objectives import Objectives
from rung.store import jsonsql
from rung.types import flatten

__all__ = ["MAX_LIMIT", "PageQuery", "page", "shown_status_sql"]

MAX_LIMIT = 1000
"""The most rows one page may ask for."""
MAX_FILTER = 200
_COLUMNS = {"id": "id", "status": "shown", "iteration": "iteration", "parent": "parent_id", "error": "error"}
SORTS = (*_COLUMNS, "last", "best", "best:<key>", "config:<key>")
"""What `sort` accepts: a column, the metric of the last or best result, a key of the best (judged)
result (one objective of several), or a config key (`a/b` when nested)."""


@dataclass(frozen=True)
class PageQuery:
    """Which rows: `limit` rows from `offset`, sorted by `sort` (`order` "asc" or "desc"; rows without a
    value last either way, then by id), of those with `q` (case-insensitive) in their id, status,
    iteration, metric values, config values, parent or error."""

    offset: int = 0
    limit: int = 100
    sort: str = "id"
    order: str = "asc"
    q: str = ""

    @classmethod
    def parse(cls, params: Mapping[str, Sequence[str]]) -> PageQuery:
        """A query from URL parameters (as `urllib.parse.parse_qs` gives them); a bad one raises
        ValueError naming the parameter, the rule and the value."""
        known = ("offset", "limit", "sort", "order", "q")
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r}; known: {', '.join(known)}")
        values: dict[str, str] = {}
        for key, given in params.items():
            if len(given) != 1:
                raise ValueError(f"{key} must be given once; got {len(given)} values")
            values[key] = given[0]
        offset = _integer(values, "offset", 0, None, "an integer >= 0")
        limit = _integer(values, "limit", 1, MAX_LIMIT, f"an integer in 1..{MAX_LIMIT}")
        sort = values.get("sort", "id")
        keyed = any(sort.startswith(prefix) and sort[len(prefix) :] for prefix in ("config:", "best:"))
        if sort not in _COLUMNS and sort not in ("last", "best") and not keyed:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}; got {sort!r}")
        order = values.get("order", "asc")
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc'; got {order!r}")
        q = values.get("q", "")
        if len(q) > MAX_FILTER:
            raise ValueError(f"q must be at most {MAX_FILTER} characters; got {len(q)}")
        return cls(offset, limit, sort, order, q)


def _integer(values: Mapping[str, str], key: str, low: int, high: int | None, rule: str) -> int:
    default = {"offset": 0, "limit": PageQuery.limit}[key]
    text = values.get(key)
    if text is None:
        return default
    number = int(text) if text.isascii() and text.isdigit() else None
    if number is None or number < low or (high is not None and number > high):
        raise ValueError(f"{key} must be {rule}; got {text!r}")
    return number


def shown_status_sql(experiment_status: str) -> tuple[str, list[Any]]:
    """A trial's status as views show it (`driver.shown`), in SQL."""
    if experiment_status == "RUNNING":
        return "status", []
    return "CASE WHEN status IN ('RUNNING', 'PENDING') THEN 'INTERRUPTED' ELSE status END", []


def page(conn: sqlite3.Connection, experiment: Mapping[str, Any], query: PageQuery) -> dict[str, Any]:
    """A page of the trials (see `PageQuery`) of the store behind `conn` (`jsonsql.install`ed):
    `rows`, `total` (rows that pass the filter), `trials` (all), the query, and `columns` (the config
    keys of the page's rows, nested ones as `a/b`)."""
    metric = experiment["metric"]
    shown, shown_params = shown_status_sql(experiment["status"])
    values: dict[str, tuple[str, list[Any]]] = {"shown": (shown, shown_params)}
    for name, column in (("last", "last_result"), ("best", "best_result")):
        values[name] = jsonsql.value_sql(column, [metric]) if metric else ("NULL", [])
    if query.sort.startswith("config:"):
        sort_sql, sort_params = jsonsql.value_sql("config", query.sort[7:].split("/"))
    elif query.sort.startswith("best:"):
        sort_sql, sort_params = jsonsql.value_sql("best_result", [query.sort[5:]])
    elif query.sort in ("last", "best"):
        sort_sql, sort_params = values[query.sort]
    else:
        column = _COLUMNS[query.sort]
        sort_sql, sort_params = values.get(column, (column, []))
    where, where_params = "", list[Any]()
    if query.q:
        where, where_params = _filter(query.q.lower(), values)
    direction = "DESC" if query.order == "desc" else "ASC"
    # A subquery names the sort key once: its value is computed once per row.
    rows = conn.execute(
        f"SELECT id, shown, config, last_result, best_result, iteration, error, parent_id, num_failures FROM"
        f" (SELECT *, {shown} AS shown, {sort_sql} AS sort_key FROM trials {where})"
        f" ORDER BY sort_key IS NULL, sort_key {direction}, id LIMIT ? OFFSET ?",
        [*shown_params, *sort_params, *where_params, query.limit, query.offset],
    ).fetchall()
    total = conn.execute(f"SELECT COUNT(*) FROM trials {where}", where_params).fetchone()[0] if where else None
    count = conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    out = [
        {
            "id": trial_id,
            "status": status,
            "config": json.loads(config),
            "last": None if last is None else json.loads(last),
            "best": None if best is None else json.loads(best),
            "iteration": iteration,
            "error": error,
            "parent_id": parent,
            "num_failures": failures,
        }
        for trial_id, status, config, last, best, iteration, error, parent, failures in rows
    ]
    _judge(conn, experiment, out)
    columns = sorted({key for row in out if isinstance(row["config"], dict) for key in flatten(row["config"], "/")})
    return {
        "rows": out,
        "total": count if total is None else total,
        "trials": count,
        "offset": query.offset,
        "limit": query.limit,
        "sort": query.sort,
        "order": query.order,
        "q": query.q,
        "columns": columns,
    }


def _filter(q: str, values: Mapping[str, tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    """WHERE for rows with `q` in a shown value; a config's values are its JSON leaves (its text if
    SQLite cannot read it)."""
    parts = ["instr(CAST(id AS TEXT), ?)", "instr(CAST(iteration AS TEXT), ?)", "instr(CAST(parent_id AS TEXT), ?)"]
    params: list[Any] = [q, q, q]
    shown, shown_params = values["shown"]
    parts.append(f"instr(lower({shown}), ?)")
    params += [*shown_params, q]
    for name in ("last", "best"):
        sql, sql_params = values[name]
        parts.append(f"instr(lower(CAST({sql} AS TEXT)), ?)")
        params += [*sql_params, q]
    parts.append("instr(lower(error), ?)")
    params.append(q)
    parts.append(
        "CASE WHEN json_valid(config) THEN EXISTS (SELECT 1 FROM json_tree(trials.config)"
        " WHERE atom IS NOT NULL AND instr(lower(CAST(atom AS TEXT)), ?))"
        " ELSE instr(lower(config), ?) END"
    )
    params += [q, q]
    return "WHERE " + " OR ".join(f"COALESCE({p}, 0) > 0" for p in parts), params


def _judge(conn: sqlite3.Connection, exp: Mapping[str, Any], rows: list[dict[str, Any]]) -> None:
    """Each row's `feasible` and `pareto` flags, as `views.experiment_view` gives them: feasible unless a
    constraint is broken by its judged result (None: no result yet); on the front of every trial's
    judged result when there are several objectives."""
    objectives = Objectives.stored(exp["metric"], exp["mode"], exp["settings"])
    constrained = objectives is not None and bool(objectives.constraints)
    front: set[int] = set()
    if objectives is not None and objectives.multi:
        judged = [
            (trial_id, None if best is None else json.loads(best))
            for trial_id, best in conn.execute("SELECT id, best_result FROM trials ORDER BY id")
        ]
        front = set(objectives.front(judged))
    for row in rows:
        if constrained and objectives is not None:
            row["feasible"] = None if row["best"] is None else objectives.feasible(row["best"])
        else:
            row["feasible"] = True
        row["pareto"] = row["id"] in front
