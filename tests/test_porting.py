"""Runs the ported PyTorch MNIST example of docs/porting-from-pytorch.md, exactly
as the page shows it, for a couple of tiny steps on random data."""
import os
import re

import numpy as np
import pytest

import pyengine as pe
import pyengine.nn.functional as F

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "porting-from-pytorch.md")
NEEDED = {"pyengine.nn.functional": (F, ["conv2d", "max_pool2d", "relu", "log_softmax", "nll_loss", "dropout"]),
          "pyengine": (pe, ["flatten", "randn", "randint", "manual_seed"])}
missing = [f"{mod}.{name}" for mod, (obj, names) in NEEDED.items() for name in names if not hasattr(obj, name)]


def ported_script():
    with open(DOC, encoding="utf-8") as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)
    return max(blocks, key=len)  # the full script; the others are the import excerpt


@pytest.mark.skipif(bool(missing), reason=f"ops not in this build yet: {', '.join(missing)}")
def test_ported_mnist_example_trains_tests_and_saves(tmp_path, monkeypatch, capsys):
    namespace = {"__name__": "ported_mnist"}
    exec(compile(ported_script(), DOC, "exec"), namespace)
    monkeypatch.chdir(tmp_path)
    namespace["main"](["--epochs", "2", "--batch-size", "4", "--test-batch-size", "3", "--train-samples", "8",
                       "--test-samples", "5", "--log-interval", "1", "--save-model"])
    out = capsys.readouterr().out
    assert out.count("Train Epoch: 1") == 2 and out.count("Test set: Average loss") == 2
    losses = [float(x) for x in re.findall(r"Loss: ([0-9.]+)", out)]
    assert all(np.isfinite(losses))
    state = pe.load(tmp_path / "mnist_cnn.pt")
    assert list(state) == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias",
                           "fc2.weight", "fc2.bias"]
    net = namespace["Net"]()
    net.load_state_dict(state)


def test_the_page_shows_the_import_only_port():
    script = ported_script()
    for line in ["import pyengine as torch", "import pyengine.nn as nn", "import pyengine.nn.functional as F",
                 "import pyengine.optim as optim", "from pyengine.utils.data import DataLoader, TensorDataset"]:
        assert line in script
