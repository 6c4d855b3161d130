"""The image classifier: a LeNet-style CNN that learns handwritten digits.

``train`` runs the whole job -- data, model, optimiser, learning-rate schedule,
checkpoints after every epoch, curves, confusion matrix and metrics.json --
``evaluate`` scores a model on held-out digits and ``predict`` classifies image
files. The CLI (``pyengine train mnist``, ``pyengine predict``) is a thin layer
over these functions.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

import pyengine
import pyengine.nn.functional as F
from pyengine import nn
from pyengine.apps.progress import Progress
from pyengine.apps.runs import (atomic_write, config_from_state, pyplot, resume_from, save_checkpoint, start_run,
                                 write_json)

# Mean and standard deviation of the MNIST training pixels (scaled to 0..1): the
# usual normalisation, so the first layer sees inputs of unit scale.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


@dataclass
class Config:
    """Everything that decides a training run; stored in every checkpoint."""

    epochs: int = 12
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    max_shift: int = 1
    dropout: float = 0.25
    channels: tuple = (16, 32)
    hidden: int = 128
    seed: int = 0
    limit: int | None = None
    data: str | None = None
    eval_batch_size: int = 500


# ---- the model ---------------------------------------------------------------------
class LeNet(nn.Module):
    """conv5x5 - batchnorm - maxpool2 - relu, twice, then a hidden linear layer
    with dropout and the 10-way output. Shapes for a batch of N digits:
    (N, 1, 28, 28) -> (N, c1, 14, 14) -> (N, c2, 7, 7) -> (N, hidden) -> (N, 10).

    Max-pooling before the ReLU computes exactly what the usual relu-then-pool
    order does (the two commute), with the ReLU on a quarter of the values."""

    def __init__(self, channels=(16, 32), hidden: int = 128, dropout: float = 0.25):
        super().__init__()
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 5, padding=2), nn.BatchNorm2d(c1), nn.MaxPool2d(2), nn.ReLU(),
            nn.Conv2d(c1, c2, 5, padding=2), nn.BatchNorm2d(c2), nn.MaxPool2d(2), nn.ReLU(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(c2 * 7 * 7, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 10),
        )

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x.reshape(x.shape[0], -1))


def build_model(config: Config) -> LeNet:
    return LeNet(tuple(config.channels), config.hidden, config.dropout)


# ---- data --------------------------------------------------------------------------
def normalise_unit(images: np.ndarray) -> np.ndarray:
    """float (N, 28, 28) digits in 0..1 -> float32 (N, 1, 28, 28), standardised."""
    return ((images.astype(np.float32) - np.float32(MNIST_MEAN)) / np.float32(MNIST_STD))[:, None]


def normalise(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) digits (0..255) -> float32 (N, 1, 28, 28), standardised."""
    return normalise_unit(images.astype(np.float32) / np.float32(255.0))


def random_shift(batch: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Each image of (N, C, H, W) moved by its own whole-pixel offset in
    -max_shift..max_shift along each axis, the uncovered border filled with the
    background (the batch minimum, i.e. a blank pixel after normalisation)."""
    if max_shift <= 0:
        return batch
    n, _, h, w = batch.shape
    s = max_shift
    padded = np.pad(batch, ((0, 0), (0, 0), (s, s), (s, s)), constant_values=batch.min())
    dy = rng.integers(-s, s + 1, size=n)
    dx = rng.integers(-s, s + 1, size=n)
    # Gather all windows at once: row index (N, H, 1) and column index (N, 1, W).
    rows = (s - dy)[:, None, None] + np.arange(h)[None, :, None]
    cols = (s - dx)[:, None, None] + np.arange(w)[None, None, :]
    return padded[np.arange(n)[:, None, None], :, rows, cols].transpose(0, 3, 1, 2).copy()


def load_data(config: Config):
    """(train_x, train_y, test_x, test_y): the bundled 4,000/1,000 split, or the
    IDX files of ``config.data``; ``config.limit`` keeps the first training images."""
    from pyengine.datasets import load_mnist, load_mnist_5k

    digits = load_mnist(config.data) if config.data else load_mnist_5k()
    train_images, train_labels = digits.train_images, digits.train_labels
    if config.limit is not None:
        train_images, train_labels = train_images[:config.limit], train_labels[:config.limit]
    return (normalise(train_images), train_labels.astype(np.int64),
            normalise(digits.test_images), digits.test_labels.astype(np.int64))


# ---- optimiser and learning-rate schedule ---------------------------------------------------
def build_optimiser(model, config: Config, steps_per_epoch: int):
    """Adam under a one-cycle schedule stepped once per batch: the rate warms up
    from lr/25 to lr over the first 30% of the steps, then anneals to nearly 0."""
    optimiser = pyengine.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = pyengine.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch)
    return optimiser, scheduler


def restore_schedule(scheduler, saved: dict) -> None:
    """Loads a saved one-cycle state into ``scheduler``, keeping the new run's
    length: when a resumed run has more epochs, the rest of the cycle stretches
    over them (with the same length the run continues exactly)."""
    length = {key: getattr(scheduler, key) for key in ("total_steps", "_schedule_phases")}
    scheduler.load_state_dict({**saved, **length})


# ---- evaluation ----------------------------------------------------------------------
def predict_proba(model, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Class probabilities (N, 10) for normalised images (N, 1, 28, 28), in eval mode."""
    was_training = model.training
    model.eval()
    out = []
    with pyengine.no_grad():
        for i in range(0, len(x), batch_size):
            logits = model(pyengine.from_numpy(np.ascontiguousarray(x[i:i + batch_size])))
            out.append(F.softmax(logits, dim=1).numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 10), np.float32)


def evaluate(model, x: np.ndarray, y: np.ndarray, batch_size: int = 500) -> dict:
    """Loss (mean negative log-likelihood), accuracy and predictions on (x, y)."""
    proba = predict_proba(model, x, batch_size)
    predicted = proba.argmax(axis=1)
    picked = proba[np.arange(len(y)), y].astype(np.float64)
    return {
        "loss": float(-np.log(np.maximum(picked, 1e-12)).mean()) if len(y) else float("nan"),
        "accuracy": float((predicted == y).mean()) if len(y) else float("nan"),
        "predicted": predicted,
    }


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: int = 10) -> np.ndarray:
    """counts[i, j] = how many digits of class i were predicted as j."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    return counts


# ---- files written atomically --------------------------------------------------------------
# ---- plots ---------------------------------------------------------------------------------
def plot_curves(history: list[dict], path: str) -> None:
    """Loss and accuracy per epoch, training and test, side by side."""
    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    ax_loss.plot(epochs, [h["test_loss"] for h in history], "s-", label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss", yscale="log")
    ax_acc.plot(epochs, [100 * h["train_accuracy"] for h in history], "o-", label="train")
    ax_acc.plot(epochs, [100 * h["test_accuracy"] for h in history], "s-", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(True, alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


def plot_confusion(counts: np.ndarray, path: str) -> None:
    """The confusion matrix as a heat map with the count in every cell."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 5.4))
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    classes = range(counts.shape[0])
    ax.set(xticks=list(classes), yticks=list(classes), xlabel="predicted digit", ylabel="true digit",
           title=f"Confusion matrix ({np.trace(counts)}/{counts.sum()} correct)")
    threshold = counts.max() / 2
    for i in classes:
        for j in classes:
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if counts[i, j] > threshold else "black")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


# ---- training ------------------------------------------------------------------------------
@dataclass
class TrainResult:
    model: LeNet
    history: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)


def train_one_epoch(model, optimiser, scheduler, x, y, config: Config, rng, progress: Progress) -> dict:
    """One pass over the shuffled (and shifted) training images; returns the mean
    loss and accuracy of the batches as they were trained on."""
    model.train()
    order = rng.permutation(len(x))
    total_loss = total_correct = seen = 0
    for start in range(0, len(x), config.batch_size):
        idx = order[start:start + config.batch_size]
        batch = random_shift(x[idx], config.max_shift, rng)
        logits = model(pyengine.from_numpy(batch))
        loss = F.cross_entropy(logits, pyengine.from_numpy(y[idx]))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        scheduler.step()
        n = len(idx)
        total_loss += loss.item() * n
        total_correct += int((logits.detach().numpy().argmax(axis=1) == y[idx]).sum())
        seen += n
        progress.update(n, loss=total_loss / seen, acc=total_correct / seen)
    return {"train_loss": total_loss / max(seen, 1), "train_accuracy": total_correct / max(seen, 1)}


def train(config: Config, out_dir: str, resume: bool = False, threads: int | None = None,
          log=print, on_epoch_end=None, stream=None) -> TrainResult:
    """Trains the classifier, writing into ``out_dir``: checkpoint.pt after every
    epoch, and at the end curves.png, confusion.png and metrics.json.

    With ``resume`` the run continues from ``out_dir/checkpoint.pt`` exactly where it
    stopped (weights, optimiser, schedule, history and random state); its stored
    configuration is used, except that ``config.epochs`` may extend the run.
    ``on_epoch_end(epoch, history)`` is called after each saved epoch."""
    config, checkpoint_path, state = start_run(config, out_dir, resume, threads)

    pyengine.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_x, train_y, test_x, test_y = load_data(config)
    steps_per_epoch = math.ceil(len(train_x) / config.batch_size)
    model = build_model(config)
    optimiser, scheduler = build_optimiser(model, config, steps_per_epoch)
    history = resume_from(state, checkpoint_path, model, optimiser, rng, log)
    if state is not None:
        restore_schedule(scheduler, state["scheduler"])

    log(f"training on {len(train_x)} images, testing on {len(test_x)}; "
        f"{config.epochs} epochs, batch {config.batch_size}, {pyengine.get_num_threads()} threads")
    for epoch in range(len(history) + 1, config.epochs + 1):
        with Progress(len(train_x), f"epoch {epoch}/{config.epochs}", stream=stream) as progress:
            epoch_stats = train_one_epoch(model, optimiser, scheduler, train_x, train_y, config, rng, progress)
            seconds = progress.elapsed
        test = evaluate(model, test_x, test_y, config.eval_batch_size)
        history.append({"epoch": epoch, **epoch_stats, "test_loss": test["loss"],
                        "test_accuracy": test["accuracy"], "seconds": seconds,
                        "images_per_second": len(train_x) / seconds, "lr": scheduler.get_last_lr()[0]})
        log(f"epoch {epoch}: train loss {epoch_stats['train_loss']:.4f} acc {epoch_stats['train_accuracy']:.2%}, "
            f"test loss {test['loss']:.4f} acc {test['accuracy']:.2%}, "
            f"{seconds:.1f} s, {len(train_x) / seconds:.0f} img/s")
        save_checkpoint(checkpoint_path, model, optimiser, epoch, history, rng, config,
                        scheduler=scheduler.state_dict())
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)

    final = evaluate(model, test_x, test_y, config.eval_batch_size)
    train_seconds = sum(h["seconds"] for h in history)
    images = sum(h["images_per_second"] * h["seconds"] for h in history)
    metrics = {
        "test_accuracy": final["accuracy"],
        "train_seconds": train_seconds,
        "images_per_second": images / train_seconds if train_seconds > 0 else 0.0,
        "epochs": len(history),
        "train_images": len(train_x),
        "test_images": len(test_x),
        "threads": pyengine.get_num_threads(),
    }
    if history:
        plot_curves(history, os.path.join(out_dir, "curves.png"))
    plot_confusion(confusion_matrix(test_y, final["predicted"]), os.path.join(out_dir, "confusion.png"))
    write_json(os.path.join(out_dir, "metrics.json"), metrics)
    log(f"test accuracy {final['accuracy']:.2%} ({int(round(final['accuracy'] * len(test_y)))}/{len(test_y)}), "
        f"training {train_seconds:.1f} s, {metrics['images_per_second']:.0f} img/s")
    log(f"wrote {checkpoint_path}, curves.png, confusion.png and metrics.json in {out_dir}")
    return TrainResult(model, history, metrics)


# ---- prediction ------------------------------------------------------------------------------
def load_classifier(checkpoint_path: str) -> LeNet:
    """The trained model stored in a checkpoint written by ``train``, in eval mode."""
    state = pyengine.load(checkpoint_path)
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise ValueError(f"{checkpoint_path}: not a checkpoint written by `pyengine train mnist`")
    model = build_model(config_from_state(Config, state["config"]))
    model.load_state_dict(state["model"])
    model.eval()
    return model


def predict(model, paths: list[str]) -> list[tuple[str, int, float]]:
    """(path, digit, probability) for each image file, prepared as MNIST digits were."""
    from pyengine.apps.images import load_digit

    if not paths:
        return []
    digits = np.stack([load_digit(p) for p in paths])
    proba = predict_proba(model, normalise_unit(digits))
    best = proba.argmax(axis=1)
    return [(p, int(c), float(proba[i, c])) for i, (p, c) in enumerate(zip(paths, best))]
