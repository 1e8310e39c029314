"""The command line: `rung demo | ls | show NAME | resume NAME | dashboard | export`.

One module per command (`rung.cli.listing` holds `ls` and `show`); this one parses the arguments and turns
rung's errors into one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import logging
import math
import sqlite3
from collections.abc import Callable, Sequence

from rung._text import LogGuard
from rung.cli._common import _err
from rung.cli.dashboard import cmd_dashboard
from rung.cli.demo import cmd_demo
from rung.cli.export import cmd_export
from rung.cli.listing import cmd_ls, cmd_show
from rung.cli.resume import cmd_resume

__all__ = ["main"]


def _positive(text: str) -> float:
    """An argparse type: a finite number > 0, else argparse's usage error naming the rule."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"needs a number > 0; got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"needs a finite number > 0; got {text}")
    return value


def _int_from(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer >= low (and <= high), else argparse's usage error naming the rule."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"needs an integer; got {text!r}") from None
        if value < low or (high is not None and value > high):
            rule = f">= {low}" if high is None else f"in {low}..{high}"
            raise argparse.ArgumentTypeError(f"needs an integer {rule}; got {value}")
        return value

    return parse


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rung", description="Tune hyperparameters; inspect stored experiments.")
    parser.add_argument("--storage", default="rung-runs", help="folder of experiments (default: rung-runs)")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="tune an MLP on the digits data set")
    demo.add_argument("--num-samples", type=_int_from(1), default=32)
    demo.add_argument("--seed", type=_int_from(0), default=0)
    demo.add_argument("--fresh", action="store_true", help="delete the stored demo and run it again")
    demo.add_argument("--verbose", type=int, default=1)
    sub.add_parser("ls", help="list experiments")
    show = sub.add_parser("show", help="trials table and best trial of an experiment")
    show.add_argument("name")
    show.add_argument(
        "--limit", type=_int_from(0, 10**9), default=100, help="rows at most (default 100; 0: every trial)"
    )
    show.add_argument("--sort", choices=("id", "best"), default="id", help="row order: trial id, or best first")
    resume = sub.add_parser("resume", help="continue an interrupted experiment")
    resume.add_argument("name")
    resume.add_argument(
        "--objective",
        metavar="MODULE:FUNCTION",
        help="the objective to run, imported (instead of the one stored; needed when it was kept only as a pickle)",
    )
    resume.add_argument(
        "--trust",
        action="store_true",
        help="unpickle an objective kept only as a pickle in rung.db (runs code from the store: only your own)",
    )
    resume.add_argument(
        "--budget-cost", type=_positive, default=None, help="the cost budget from now on (default: the stored one)"
    )
    resume.add_argument("--verbose", type=int, default=1)
    dash = sub.add_parser("dashboard", help="live read-only web view of the experiments")
    dash.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    dash.add_argument("--port", type=_int_from(0, 65535), default=8765)
    export = sub.add_parser("export", help="write an experiment into another tool's storage (Optuna)")
    export.add_argument("name")
    export.add_argument(
        "--optuna", metavar="URL", required=True, help="an Optuna storage URL, e.g. sqlite:///exp.db (made if missing)"
    )
    export.add_argument("--study", help="the Optuna study's name (default: the experiment's)")
    export.add_argument("--replace", action="store_true", help="replace an Optuna study of that name")
    for p in (demo, show, resume, dash, export, sub.choices["ls"]):
        p.add_argument("--storage", default=argparse.SUPPRESS, help="folder of experiments")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    LogGuard.install(logging.getLogger("rung"))
    commands = {
        "demo": cmd_demo,
        "ls": cmd_ls,
        "show": cmd_show,
        "resume": cmd_resume,
        "dashboard": cmd_dashboard,
        "export": cmd_export,
    }
    from rung.errors import RungError

    try:
        return commands[args.command](args)
    except RungError as exc:
        _err(f"error: {exc}")
        return 2
    except sqlite3.DatabaseError as exc:
        _err(f"error: the experiment's store (rung.db) cannot be read: {exc}; is it damaged?")
        return 2
    except ImportError as exc:
        _err(
            f"error: {exc}: the stored configs hold objects from that module; run this command from the folder"
            " (or with the PYTHONPATH) of the script that ran the experiment"
        )
        return 2
    except KeyboardInterrupt:
        # No traceback: a run that was interrupted has printed the command that resumes it.
        return 130
