import os
import signal
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest

import pyengine as pe
from pyengine.nn import Module, Parameter
from pyengine.optim import SGD, Adam
from pyengine.serialization import MAGIC, CheckpointError


def sample_object():
    big_endian = np.arange(6, dtype=">f8").reshape(2, 3)
    return {
        "f32": pe.tensor(np.linspace(-1, 1, 7, dtype=np.float32)),
        "f64": pe.tensor(np.arange(12, dtype=np.float64).reshape(3, 4)),
        "labels": pe.tensor(np.array([3, -1, 2**40], dtype=np.int64)),
        "mask": np.array([True, False]),
        "scalar0d": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0, 5), dtype=np.float32),
        "strided": np.arange(20, dtype=np.float32)[::3],
        "big_endian": big_endian,
        "np_scalar": np.float64(0.125),
        "complex": np.array([1 + 2j], dtype=np.complex64),
        "numbers": [1, -(2**70), 0.1, float("inf"), float("-inf"), True, None],
        "nested": ("text ü", OrderedDict([("b", 1), ("a", [2, (3,)])])),
        7: "int key",
        (1, "x"): "tuple key",
    }


def assert_same(a, b):
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, pe.Tensor):
        assert a.dtype == b.dtype and a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.data, b.data)
    elif isinstance(a, np.ndarray):
        assert a.dtype.newbyteorder("=") == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b or (a != a and b != b)


def test_round_trip_of_every_supported_type(tmp_path):
    obj = sample_object()
    pe.save(obj, tmp_path / "ckpt.pt")
    loaded = pe.load(tmp_path / "ckpt.pt")
    assert_same(obj, loaded)
    assert loaded["f32"].data.flags.writeable and loaded["big_endian"].dtype == np.float64
    assert os.listdir(tmp_path) == ["ckpt.pt"]  # no temporary file left behind


class Tiny(Module):
    def __init__(self):
        super().__init__()
        self.weight = Parameter(np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32))
        self.register_buffer("count", pe.tensor(np.array(4, dtype=np.int64)))


def test_model_and_optimizer_state_dicts_round_trip(tmp_path):
    model = Tiny()
    opt = Adam(model.parameters(), lr=0.01, amsgrad=True)
    model.weight.grad = pe.tensor(np.ones((3, 2), np.float32))
    opt.step()
    pe.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, str(tmp_path / "c.pt"))
    ckpt = pe.load(str(tmp_path / "c.pt"))
    restored = Tiny()
    restored.weight.data[...] = 0
    restored.load_state_dict(ckpt["model"])
    np.testing.assert_array_equal(restored.weight.data, model.weight.data)
    opt2 = Adam(restored.parameters(), lr=1.0)
    opt2.load_state_dict(ckpt["optimizer"])
    assert opt2.param_groups[0]["betas"] == (0.9, 0.999) and opt2.param_groups[0]["lr"] == 0.01
    assert list(ckpt["optimizer"]["state"]) == [0] and ckpt["epoch"] == 3
    for p in (model.weight, restored.weight):
        p.grad = pe.tensor(np.full((3, 2), 0.5, np.float32))
    opt.step()
    opt2.step()
    np.testing.assert_array_equal(restored.weight.data, model.weight.data)


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "c.pt"
    pe.save({"v": 1}, path)
    pe.save({"v": 2}, path)
    assert pe.load(path) == {"v": 2}


def test_unsupported_objects_are_refused_naming_their_place(tmp_path):
    with pytest.raises(TypeError, match=r"type object at the root\['state'\]\[1\]"):
        pe.save({"state": [1, object()]}, tmp_path / "x.pt")
    with pytest.raises(TypeError, match="dtype object"):
        pe.save(np.array([None]), tmp_path / "x.pt")
    with pytest.raises(TypeError, match="must be a path"):
        pe.save({}, open(os.devnull, "wb"))
    assert os.listdir(tmp_path) == []


def write_small_checkpoint(path):
    pe.save({"w": np.arange(5, dtype=np.float32), "b": pe.tensor([1.0, 2.0]), "lr": 0.1}, path)
    return path.read_bytes()


def test_every_truncation_raises_a_clear_error(tmp_path):
    data = write_small_checkpoint(tmp_path / "c.pt")
    bad = tmp_path / "bad.pt"
    for n in range(len(data)):
        bad.write_bytes(data[:n])
        with pytest.raises(CheckpointError, match="truncated|not a pyengine checkpoint"):
            pe.load(bad)
    bad.write_bytes(data + b"\0")
    with pytest.raises(CheckpointError, match="unexpected bytes"):
        pe.load(bad)


def test_every_single_bit_flip_is_detected(tmp_path):
    data = write_small_checkpoint(tmp_path / "c.pt")
    bad = tmp_path / "bad.pt"
    for i in range(len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 1 << (i % 8)
        bad.write_bytes(bytes(flipped))
        with pytest.raises(CheckpointError):
            pe.load(bad)


def test_foreign_files_and_versions(tmp_path):
    path = tmp_path / "c.pt"
    path.write_bytes(b"\x80\x04\x95 a pickle")
    with pytest.raises(CheckpointError, match="not a pyengine checkpoint"):
        pe.load(path)
    data = bytearray(write_small_checkpoint(path))
    data[len(MAGIC)] = 9
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="format version 9; this pyengine reads version 1"):
        pe.load(path)
    assert issubclass(CheckpointError, ValueError)


KILLED_WRITER = """
import sys, time
import numpy as np
import pyengine
import pyengine.serialization as serialization

written = []
real_write = serialization._write_array

def write_then_hang(f, data):
    real_write(f, data)
    written.append(data.nbytes)
    if len(written) == 2:  # half-way through the arrays
        f.flush()
        print("half written", flush=True)
        time.sleep(120)

serialization._write_array = write_then_hang
pyengine.save({"weights": [np.full(1 << 20, float(i), np.float32) for i in range(4)]}, sys.argv[1])
"""


def test_a_save_killed_mid_write_leaves_the_previous_file_intact(tmp_path):
    path = tmp_path / "model.pt"
    previous = {"weights": [np.full(10, -1.0, np.float32)]}
    pe.save(previous, path)
    package_root = os.path.dirname(os.path.dirname(pe.__file__))
    env = dict(os.environ, PYTHONPATH=package_root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, cwd=str(tmp_path))
    try:
        line = child.stdout.readline()
        assert line.strip() == "half written", child.stderr.read()
        temporaries = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
        assert len(temporaries) == 1 and os.path.getsize(tmp_path / temporaries[0]) > 8 << 20
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert_same(pe.load(path), previous)
    # The partial temporary file is itself recognised as broken.
    with pytest.raises(CheckpointError, match="truncated"):
        pe.load(tmp_path / temporaries[0])


def test_scheduler_state_dicts_round_trip(tmp_path):
    from pyengine.optim import lr_scheduler

    def optimizer():
        return SGD([Parameter(np.zeros(1, np.float32))], lr=0.1, momentum=0.9)

    multi = lr_scheduler.MultiStepLR(optimizer(), milestones=[2, 4])
    cycle = lr_scheduler.OneCycleLR(optimizer(), max_lr=1.0, total_steps=10)
    for _ in range(3):
        multi.step()
        cycle.step()
    pe.save({"multi": multi.state_dict(), "cycle": cycle.state_dict()}, tmp_path / "s.pt")
    loaded = pe.load(tmp_path / "s.pt")
    resumed = lr_scheduler.MultiStepLR(optimizer(), milestones=[9])
    resumed.load_state_dict(loaded["multi"])
    resumed.optimizer.param_groups[0]["lr"] = multi.optimizer.param_groups[0]["lr"]
    resumed.step()
    multi.step()
    assert resumed.get_last_lr() == multi.get_last_lr() == [pytest.approx(0.001)] and resumed.last_epoch == 4
    assert loaded["cycle"]["_schedule_phases"] == cycle._schedule_phases


def forge(path, manifest):
    """A checkpoint with a hand-written manifest and a valid CRC (what a malicious file can do)."""
    import json
    import struct
    import zlib

    body = json.dumps(manifest).encode()
    path.write_bytes(MAGIC + struct.pack("<IQ", 1, len(body)) + body + struct.pack("<I", zlib.crc32(body)))


@pytest.mark.parametrize("manifest", [
    {"root": None, "arrays": [{"dtype": "<f4", "shape": [-1], "offset": 0, "nbytes": -4, "crc32": 0}]},
    {"root": None, "arrays": [{"dtype": "|O", "shape": [], "offset": 0, "nbytes": 8, "crc32": 0}]},
    {"root": {"__tensor__": 3}, "arrays": []},
    {"root": {"__weird__": 1}, "arrays": []},
    {"root": {"__dict__": [[[1], 2]]}, "arrays": []},
    {"root": None},
])
def test_forged_manifests_raise_checkpoint_errors(tmp_path, manifest):
    forge(tmp_path / "f.pt", manifest)
    with pytest.raises(CheckpointError, match="manifest"):
        pe.load(tmp_path / "f.pt")
