"""Per-trial resources: what the machine has and how many trials fit at once."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from rung.errors import ResourceError

__all__ = ["Resources", "gpu_slots", "machine_cpus", "machine_gpus"]


def machine_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        return os.cpu_count() or 1


def machine_gpus() -> list[str]:
    """GPU ids: from `CUDA_VISIBLE_DEVICES` when set, else what `nvidia-smi -L` lists."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


@dataclass(frozen=True)
class Resources:
    """What one trial needs: CPUs and GPUs (fractions allowed)."""

    cpu: float = 1.0
    gpu: float = 0.0

    @classmethod
    def parse(cls, spec: Mapping[str, float] | None) -> Resources:
        if spec is None:
            return cls()
        if not isinstance(spec, Mapping):
            raise ResourceError(f"resources must be a dict like {{'cpu': 1, 'gpu': 0}}; got {spec!r}")
        unknown = sorted(set(spec) - {"cpu", "gpu"})
        if unknown:
            raise ResourceError(f"resources has unknown keys {unknown}; known keys: 'cpu', 'gpu'")
        values = {}
        for key in ("cpu", "gpu"):
            value = spec.get(key, 1.0 if key == "cpu" else 0.0)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ResourceError(f"resources['{key}'] must be a number >= 0; got {value!r}")
            if value < 0:
                raise ResourceError(f"resources['{key}'] must be >= 0; got {value}")
            values[key] = float(value)
        if values["cpu"] == 0 and values["gpu"] == 0:
            raise ResourceError("resources must ask for some cpu or gpu; got cpu=0, gpu=0")
        if values["gpu"] > 1 and not values["gpu"].is_integer():
            raise ResourceError(f"resources['gpu'] must be a fraction up to 1 or a whole number; got {values['gpu']}")
        return cls(cpu=values["cpu"], gpu=values["gpu"])

    def slots(self, cpus: int, gpus: int) -> int:
        """How many trials fit at once on `cpus` CPUs and `gpus` GPUs; raises if not even one."""
        if self.cpu > cpus:
            raise ResourceError(f"each trial needs {_n(self.cpu)} CPUs; this machine has {cpus}")
        if self.gpu > gpus:
            raise ResourceError(
                f"each trial needs {_n(self.gpu)} GPUs; this machine has {gpus}"
                " (counted from CUDA_VISIBLE_DEVICES when it is set, else from nvidia-smi -L)"
            )
        fits = [math.floor(cpus / self.cpu + 1e-9)] if self.cpu else []
        if self.gpu >= 1:
            fits.append(math.floor(gpus / self.gpu + 1e-9))
        elif self.gpu:
            # A trial's share never spans two GPUs: 0.4 of a GPU fits twice on each, not 5 times on 2.
            fits.append(gpus * math.floor(1 / self.gpu + 1e-9))
        return max(1, min(fits))


def gpu_slots(per_trial: float, devices: list[str], slots: int) -> list[list[str]]:
    """The GPU ids each slot sees: whole GPUs side by side, or several slots sharing one GPU."""
    if per_trial <= 0:
        return [[] for _ in range(slots)]
    if per_trial >= 1:
        k = int(per_trial)
        return [devices[i * k : (i + 1) * k] for i in range(slots)]
    # Slot i on GPU i mod n: fewer slots than shares spread over every GPU instead of piling on the first.
    return [[devices[i % len(devices)]] for i in range(slots)]


def _n(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
