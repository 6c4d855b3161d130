"""What every practice app's training run shares: resuming from its checkpoint,
files written whole (temporary file, then rename), plots, and the random state
that a checkpoint carries."""
from __future__ import annotations

import json
import os
from dataclasses import asdict

import numpy as np

import pyengine
from pyengine.utils.files import atomic_write

CHECKPOINT = "checkpoint.pt"


def start_run(config, out_dir: str, resume: bool, threads: int | None):
    """Sets the threads, makes ``out_dir`` and, with ``resume``, loads its
    checkpoint. Returns (config, checkpoint path, loaded state or None); a
    resumed run keeps its stored configuration except ``config.epochs``."""
    if threads:
        pyengine.set_num_threads(threads)
    os.makedirs(out_dir, exist_ok=True)
    checkpoint_path = os.path.join(out_dir, CHECKPOINT)
    state = None
    if resume:
        if not os.path.isfile(checkpoint_path):
            raise FileNotFoundError(f"--resume: no checkpoint at {checkpoint_path}")
        state = pyengine.load(checkpoint_path)
        config = config_from_state(type(config), state["config"], epochs=config.epochs)
    return config, checkpoint_path, state


def config_from_state(cls, stored: dict, **overrides):
    """An app's configuration as a checkpoint stored it. A field added after
    the checkpoint was written takes the value that run was trained with (the
    class's ``saved_before``, when it has one), not today's default."""
    return cls(**{**getattr(cls, "saved_before", {}), **stored, **overrides})


def write_json(path: str, obj) -> None:
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
    atomic_write(path, write)


def pyplot():
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('plotting needs matplotlib; install the app dependencies with: pip install ".[apps]"') from exc
    matplotlib.use("Agg")  # files only: works without a display
    import matplotlib.pyplot as plt
    return plt


def resume_from(state, checkpoint_path: str, model, optimiser, rng: np.random.Generator, log) -> list[dict]:
    """Puts a resumed run's weights, optimiser and random state back and
    returns its history; a new run (``state`` None) starts with an empty one."""
    if state is None:
        return []
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimizer"])
    set_rng_state(rng, state["rng"])
    log(f"resuming from {checkpoint_path} after epoch {state['epoch']}")
    return list(state["history"])


def save_checkpoint(path: str, model, optimiser, epoch: int, history: list[dict], rng: np.random.Generator,
                    config, **extra) -> None:
    """Everything ``resume_from`` needs, plus ``extra``; pyengine.save writes a
    temporary file and renames it, so a crash never leaves half a checkpoint."""
    pyengine.save({"model": model.state_dict(), "optimizer": optimiser.state_dict(), "epoch": epoch,
                   "history": history, "rng": rng_state(rng), "config": asdict(config), **extra}, path)


def rng_state(rng: np.random.Generator) -> dict:
    """The app's generator (shuffling, shifts) and pyengine's (dropout)."""
    return {"app": rng.bit_generator.state, "pyengine": pyengine.random.default_generator().bit_generator.state}


def set_rng_state(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state["app"]
    pyengine.random.default_generator().bit_generator.state = state["pyengine"]
