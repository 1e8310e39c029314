"""`executor="thread"` is for debugging: breakpoint() in the objective opens pdb in the terminal."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import sys
    import rung

    def train(config):
        secret = config["x"] * 2
        breakpoint()
        rung.report({"loss": secret})

    result = rung.run(train, {"x": rung.grid([21])}, metric="loss", executor="thread", name="dbg",
                      storage=sys.argv[1], verbose=0)
    print("best loss", result.best.best_metrics["loss"])
    """
)


def test_breakpoint_in_thread_executor_opens_pdb(tmp_path: Path) -> None:
    script = tmp_path / "debug_me.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "runs")],
        input="p secret\nsecret = 5\nc\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONBREAKPOINT": "pdb.set_trace"},
    )
    assert done.returncode == 0, done.stderr
    assert "(Pdb) 42" in done.stdout
    # The variable changed in pdb is what the trial reported.
    assert "best loss 5" in done.stdout
