from __future__ import annotations

import pytest

from rung.errors import ResourceError
from rung.resources import Resources, gpu_slots, machine_gpus


def test_slots_from_cpus_and_gpus() -> None:
    assert Resources(cpu=1).slots(cpus=2, gpus=0) == 2
    assert Resources(cpu=0.5).slots(cpus=2, gpus=0) == 4
    assert Resources(cpu=1, gpu=1).slots(cpus=8, gpus=2) == 2
    assert Resources(cpu=1, gpu=0.5).slots(cpus=8, gpus=2) == 4


def test_too_big_for_the_machine() -> None:
    with pytest.raises(ResourceError, match="^each trial needs 4 CPUs; this machine has 2$"):
        Resources(cpu=4).slots(cpus=2, gpus=0)
    with pytest.raises(ResourceError, match="^each trial needs 1 GPUs; this machine has 0$"):
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
    assert gpu_slots(0.5, devices, 4) == [["0"], ["0"], ["1"], ["1"]]
    assert gpu_slots(0, devices, 2) == [[], []]
