from __future__ import annotations

from pathlib import Path

import pytest

import rung
from rung.errors import ResourceError
from rung.resources import Resources, gpu_slots, machine_gpus
from rung.types import Status


def test_slots_from_cpus_and_gpus() -> None:
    assert Resources(cpu=1).slots(cpus=2, gpus=0) == 2
    assert Resources(cpu=0.5).slots(cpus=2, gpus=0) == 4
    assert Resources(cpu=1, gpu=1).slots(cpus=8, gpus=2) == 2
    assert Resources(cpu=1, gpu=0.5).slots(cpus=8, gpus=2) == 4
    # A share of a GPU never spans two: 0.4 fits twice on each GPU, 0.6 once.
    assert Resources(cpu=0.25, gpu=0.4).slots(cpus=2, gpus=2) == 4
    assert Resources(cpu=0.25, gpu=0.6).slots(cpus=2, gpus=2) == 2
    assert Resources(cpu=0.25, gpu=0.7).slots(cpus=4, gpus=3) == 3


def test_too_big_for_the_machine() -> None:
    with pytest.raises(ResourceError, match="^each trial needs 4 CPUs; this machine has 2$"):
        Resources(cpu=4).slots(cpus=2, gpus=0)
    with pytest.raises(
        ResourceError,
        match=r"^each trial needs 1 GPUs; this machine has 0 \(counted from CUDA_VISIBLE_DEVICES when it is set,"
        r" else from nvidia-smi -L\)$",
    ):
        Resources(cpu=1, gpu=1).slots(cpus=2, gpus=0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"cpu": -1}, r"resources\['cpu'\] must be >= 0; got -1"),
        ({"cpu": "2"}, r"resources\['cpu'\] must be a number >= 0; got '2'"),
        ({"tpu": 1}, r"resources has unknown keys \['tpu'\]; known keys: 'cpu', 'gpu'"),
        ({"cpu": 0, "gpu": 0}, "resources must ask for some cpu or gpu; got cpu=0, gpu=0"),
        ({"gpu": 1.5}, r"resources\['gpu'\] must be a fraction up to 1 or a whole number; got 1.5"),
    ],
)
def test_bad_resources(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ResourceError, match=message):
        Resources.parse(spec)  # type: ignore[arg-type]


def test_gpu_list_is_faked_by_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    assert machine_gpus() == ["0", "1", "2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert machine_gpus() == []


def test_gpu_slots_whole_and_shared() -> None:
    devices = ["0", "1", "2", "3"]
    assert gpu_slots(2, devices, 2) == [["0", "1"], ["2", "3"]]
    assert gpu_slots(1, devices, 4) == [["0"], ["1"], ["2"], ["3"]]
    assert gpu_slots(0.5, devices, 8) == [["0"], ["1"], ["2"], ["3"]] * 2
    assert gpu_slots(0.5, devices, 2) == [["0"], ["1"]]  # fewer slots than shares: spread, not piled on GPU 0
    assert gpu_slots(0.4, ["0", "1"], 4) == [["0"], ["1"], ["0"], ["1"]]
    assert gpu_slots(0, devices, 2) == [[], []]


def _device(config: dict[str, object]) -> dict[str, float]:
    import os

    visible = os.environ["CUDA_VISIBLE_DEVICES"]
    return {"loss": 0.0, "gpu": float(visible), "seen": float(len(visible.split(",")))}


def test_trials_get_their_share_of_faked_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setattr("rung.parts.machine_cpus", lambda: 2)
    result = rung.run(
        _device, {"x": rung.grid([1, 2, 3, 4])}, metric="loss", resources={"cpu": 0.25, "gpu": 0.4},
        storage=tmp_path, name="gpus", verbose=0,
    )  # fmt: skip
    assert all(t.status is Status.TERMINATED and t.metrics["seen"] == 1 for t in result.trials)
    assert {t.metrics["gpu"] for t in result.trials} == {0.0, 1.0}
