"""Build rung's sdist and wheel, install the wheel into a fresh virtual environment, and run it there.

An editable install reads the source tree, so a file that the package leaves out (a dashboard page,
`py.typed`, a module in a folder without `__init__.py`) goes unnoticed until someone installs the
wheel. This script fails on it:

1. `python -m build` makes the sdist, then the wheel from the sdist (so the sdist must build too);
   both archives must hold every file git tracks in the places they are meant to carry.
2. A new virtual environment (`python -m venv`, no system site-packages) gets the wheel with its
   `demo` extra; its dependencies come from the package index.
3. From a folder outside the repository, with PYTHONPATH cleared (the source tree is never on
   sys.path), it runs `rung --help`, `rung demo`, `rung show demo` and this file's smoke test:
   rung comes from the environment, its metadata version is `rung.__version__`, every name in
   `rung.__all__` and every submodule imports, `py.typed` and the dashboard's pages are package
   resources, and the dashboard serves its pages and the demo over HTTP.

Everything happens in one temporary folder, removed at the end (`--keep` keeps it).

    python .ci/wheel_check.py              # what .ci/run does (needs `pip install build`)
    python .ci/wheel_check.py --keep       # keep the folder to look at the archives and the venv
"""

from __future__ import annotations

import argparse
import html.parser
import importlib
import importlib.metadata
import importlib.resources
import json
import os
import pkgutil
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Besides the package, the sdist carries what it takes to test and read it (MANIFEST.in).
SDIST_FOLDERS = ("rung", "tests", "docs", "examples", "bench")
SDIST_LEFT_OUT = ("bench/results/",)  # recorded results, large; BENCHMARKS.md says how to make them again
SDIST_TOP_FILES = ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "ARCHITECTURE.md", "BENCHMARKS.md")

# What a walk of the checkout skips when there is no git to list its files.
_LEFTOVERS = frozenset(
    {".git", "__pycache__", "build", "dist", "rung.egg-info", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
)


class CheckFailed(Exception):
    """A check failed; the message says what is missing or wrong."""


def _tracked(folders: Sequence[str] = ()) -> set[str]:
    """The repository's files (under `folders`, if given): git's list, committed or not but not
    ignored, or a walk without build and tool leftovers when there is no git."""
    try:
        cmd = ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *folders]
        files = {name for name in subprocess.run(cmd, capture_output=True, check=True).stdout.decode().split("\0")}
    except (OSError, subprocess.CalledProcessError):
        files = {
            path.relative_to(REPO).as_posix()
            for folder in folders or ["."]
            for path in (REPO / folder).rglob("*")
            if path.is_file() and not _LEFTOVERS.intersection(path.relative_to(REPO).parts)
        }
    # A file that git tracks but the working tree has deleted is not there to carry.
    return {name for name in files if name and (REPO / name).is_file()}


def _carried(folders: Sequence[str]) -> set[str]:
    """The files under `folders` that the archives must hold: not git's own (.gitignore)."""
    return {name for name in _tracked(folders) if not Path(name).name.startswith(".")}


def _run(cmd: Sequence[str | Path], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    """Run `cmd`, its output into `log`; on failure raise with the command and the log's tail."""
    with log.open("ab") as out:
        out.write(f"$ {' '.join(map(str, cmd))}\n".encode())
        out.flush()
        code = subprocess.run(list(map(str, cmd)), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd).returncode
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise CheckFailed(f"{' '.join(map(str, cmd))} exited with {code}; the end of {log.name}:\n{tail}")


def _check_archives(dist: Path) -> Path:
    """Both archives hold what they should; return the wheel."""
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise CheckFailed(f"python -m build made {[p.name for p in dist.iterdir()]}; expected one wheel and one sdist")
    wheel, sdist = wheels[0], sdists[0]
    with zipfile.ZipFile(wheel) as zf:
        in_wheel = set(zf.namelist())
        entry_points = next((zf.read(n).decode() for n in in_wheel if n.endswith(".dist-info/entry_points.txt")), "")
    missing = sorted(_carried(["rung"]) - in_wheel)
    if missing:
        raise CheckFailed(f"the wheel lacks {len(missing)} file(s) of the package: {missing}")
    if "rung = rung.cli:main" not in entry_points:
        raise CheckFailed(f"the wheel has no `rung` console script; entry_points.txt:\n{entry_points}")
    with tarfile.open(sdist) as tf:
        # Names in an sdist start with its folder, rung-VERSION/.
        in_sdist = {name.split("/", 1)[1] for name in tf.getnames() if "/" in name}
    wanted = {
        name
        for name in _carried(SDIST_FOLDERS) | {n for n in SDIST_TOP_FILES if (REPO / n).is_file()}
        if not name.startswith(SDIST_LEFT_OUT)
    }
    missing = sorted(wanted - in_sdist)
    if missing:
        raise CheckFailed(f"the sdist lacks {len(missing)} file(s): {missing}")
    print(f"  {wheel.name}: {len(in_wheel)} files; {sdist.name}: {len(in_sdist)} entries")
    return wheel


def check(keep: bool = False) -> float:
    """Build, install and run; return the seconds it took. Raises CheckFailed."""
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="rung-wheel-check-"))
    log = tmp / "log.txt"
    try:
        dist, venv, work = tmp / "dist", tmp / "venv", tmp / "work"
        work.mkdir()

        def step(name: str, since: float) -> float:
            now = time.monotonic()
            print(f"  {name}: {now - since:.1f} s", flush=True)
            return now

        # From a copy of the repository's files: an editable install leaves rung.egg-info/SOURCES.txt in
        # the checkout, and setuptools adds every file listed there to the sdist, which hid a file that
        # package-data no longer covered (checked: the archives still held it).
        t = time.monotonic()
        source = tmp / "source"
        for name in _tracked():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
        _run([sys.executable, "-m", "build", "--outdir", dist, source], log)
        t = step("python -m build (sdist, then the wheel from it)", t)
        wheel = _check_archives(dist)

        _run([sys.executable, "-m", "venv", venv], log)
        python, rung = venv / "bin" / "python", venv / "bin" / "rung"
        # The new environment only: no source tree, no user site-packages, no other venv.
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env.update(PYTHONNOUSERSITE="1", VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}")
        # --no-compile: byte-compiling all of scipy and scikit-learn took half of this step (17 s instead
        # of 34-51 s on a loaded machine); rung's own modules are compiled when the smoke test imports them.
        _run([python, "-m", "pip", "install", "--no-input", "--no-compile", f"{wheel}[demo]"], log, env=env, cwd=work)
        t = step("fresh venv + pip install rung[demo] from the wheel", t)

        # As README says to run it: `rung demo`, its defaults, storage ./rung-runs (in the outside folder).
        _run([rung, "--help"], log, env=env, cwd=work)
        _run([rung, "demo"], log, env=env, cwd=work)
        _run([rung, "show", "demo", "--limit", "3"], log, env=env, cwd=work)
        t = step("rung --help, rung demo, rung show demo", t)

        # This file runs again inside the venv (a copy, so that its folder on sys.path is not the repository's).
        smoke = work / "wheel_smoke.py"
        shutil.copyfile(__file__, smoke)
        _run([python, smoke, "--smoke", work / "rung-runs"], log, env=env, cwd=work)
        step("smoke test: imports, resources, dashboard", t)
        return time.monotonic() - started
    finally:
        if keep:
            print(f"  kept {tmp} (log: {log})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


class _Links(html.parser.HTMLParser):
    """The /static/ files a page links to (stylesheets and scripts)."""

    def __init__(self) -> None:
        super().__init__()
        self.files: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("src", "href") and value and value.startswith("/static/"):
                self.files.append(value[len("/static/") :])


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
        return body


def smoke(storage: Path) -> None:
    """Runs inside the venv: rung as installed from the wheel, and nothing from the source tree."""
    import rung

    where = Path(rung.__file__).resolve()
    if not where.is_relative_to(Path(sys.prefix).resolve()):
        raise CheckFailed(f"rung was imported from {where}, not from the environment {sys.prefix}")
    installed = importlib.metadata.version("rung")
    if installed != rung.__version__:
        raise CheckFailed(f"the metadata says version {installed}, rung.__version__ says {rung.__version__}")
    for name in rung.__all__:
        getattr(rung, name)
    modules = [m.name for m in pkgutil.walk_packages(rung.__path__, "rung.")]
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            # rung.integrations.<name> needs its framework, which rung[demo] does not bring: it says so
            if not (
                module.startswith("rung.integrations.")
                and f'pip install "rung[{module.rsplit(".", 1)[1]}]"' in str(exc)
            ):
                raise
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="rung")
    if script.load() is not importlib.import_module("rung.cli").main:
        raise CheckFailed(f"the rung console script is {script.value}, not rung.cli:main")

    package = importlib.resources.files("rung")
    if not package.joinpath("py.typed").is_file():
        raise CheckFailed("py.typed is not in the installed package")
    static = package / "dashboard" / "static"
    page = static.joinpath("index.html").read_text(encoding="utf-8")
    links = _Links()
    links.feed(page)
    if not links.files:
        raise CheckFailed(f"the dashboard's index.html links to no /static/ file:\n{page}")
    absent = [name for name in links.files if not static.joinpath(name).is_file()]
    if absent:
        raise CheckFailed(f"the dashboard's index.html links to files the package lacks: {absent}")

    from rung.dashboard.server import start_background

    server, url = start_background(storage)
    try:
        if b"/static/app.js" not in _get(f"{url}/"):
            raise CheckFailed(f"{url}/ did not serve the dashboard's page")
        for name in links.files:
            if _get(f"{url}/static/{name}") != static.joinpath(name).read_bytes():
                raise CheckFailed(f"{url}/static/{name} is not the packaged file")
        listed = [e.get("name") for e in json.loads(_get(f"{url}/api/experiments"))]
        if "demo" not in listed:
            raise CheckFailed(f"the dashboard over {storage} lists {listed}, not the demo")
    finally:
        server.shutdown()
        server.server_close()
    print(
        f"  rung {installed} from {where.parent}: {len(rung.__all__)} public names, {len(modules)} submodules,"
        f" {len(links.files)} dashboard files served"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (archives, venv, log)")
    parser.add_argument("--smoke", type=Path, metavar="STORAGE", help=argparse.SUPPRESS)  # the part run in the venv
    args = parser.parse_args(argv)
    try:
        if args.smoke is not None:
            smoke(args.smoke)
            return 0
        print("wheel check: build, install into a fresh venv, run", flush=True)
        seconds = check(keep=args.keep)
    except CheckFailed as exc:
        print(f"wheel check FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"wheel check passed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
