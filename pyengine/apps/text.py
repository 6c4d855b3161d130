"""The text generator: a character-level recurrent language model.

``train`` learns to predict the next character of a corpus (by default the
English help texts that ship with Python, ``pydoc_data.topics``) with
truncated back-propagation through time, checkpoints after every epoch and
writes the learning curves and metrics.json; ``generate`` samples new text
from a trained model. The CLI (``pyengine train text``, ``pyengine generate
text``) is a thin layer over these functions.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

import pyengine
import pyengine.nn.functional as F
from pyengine import nn
from pyengine.apps.runs import (atomic_write, config_from_state, pyplot, resume_from, save_checkpoint, start_run,
                                 write_json)
from pyengine.apps.progress import Progress

LN2 = math.log(2.0)


@dataclass
class Config:
    """Everything that decides a training run; stored in every checkpoint."""

    epochs: int = 3
    batch_size: int = 32
    seq_len: int = 64
    hidden: int = 256
    embedding: int = 32
    cell: str = "gru"
    lr: float = 3e-3
    clip: float = 1.0
    seed: int = 0
    limit_chars: int | None = None
    data: str | None = None
    val_fraction: float = 0.1
    eval_batch_size: int = 16


# ---- corpus and vocabulary ----------------------------------------------------------------
def default_corpus() -> str:
    """The help texts of the Python standard library (``pydoc_data.topics``):
    about 460,000 characters of English prose with code examples."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


def load_corpus(config: Config) -> str:
    """The text of ``config.data`` (UTF-8) or the default corpus, cut to
    ``config.limit_chars`` characters when that is set."""
    if config.data:
        with open(config.data, encoding="utf-8") as f:
            text = f.read()
    else:
        text = default_corpus()
    if config.limit_chars is not None:
        text = text[:config.limit_chars]
    return text


class Vocabulary:
    """The characters of a corpus, sorted by code point; index i is the i-th."""

    def __init__(self, chars: str):
        self.chars = "".join(sorted(set(chars)))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        unknown = sorted(set(text) - set(self.index))
        if unknown:
            raise ValueError(f"text: characters not in the vocabulary: {''.join(unknown)!r}")
        return np.fromiter((self.index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def split_corpus(ids: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation): the last ``val_fraction`` of the characters are held out."""
    n_val = int(round(len(ids) * val_fraction))
    if len(ids) - n_val < 2 or n_val < 2:
        raise ValueError(f"text: a corpus of {len(ids)} characters is too short to hold out "
                         f"{val_fraction:.0%} for validation")
    return ids[:len(ids) - n_val], ids[len(ids) - n_val:]


def unigram_bits_per_char(ids: np.ndarray, vocab_size: int) -> float:
    """Entropy in bits of the character frequencies of ``ids``: what a model that
    ignores the context can reach at best on that text."""
    p = np.bincount(ids, minlength=vocab_size) / len(ids)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def streams(ids: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-character targets as ``batch`` contiguous streams, each
    (batch, L): row b continues where the previous window of row b stopped, so
    the hidden state can be carried from one window to the next."""
    length = (len(ids) - 1) // batch
    if length < 1:
        raise ValueError(f"text: {len(ids)} characters cannot fill {batch} streams")
    x = ids[:batch * length].reshape(batch, length)
    y = ids[1:batch * length + 1].reshape(batch, length)
    return x, y


# ---- the model ------------------------------------------------------------------------------
class CharModel(nn.Module):
    """Embedding -> one recurrent layer (LSTM or GRU) -> linear read-out.
    Shapes for a batch of B windows of T characters:
    (B, T) ids -> (B, T, embedding) -> (B, T, hidden) -> (B, T, vocab) logits."""

    def __init__(self, vocab_size: int, embedding: int = 32, hidden: int = 256, cell: str = "lstm"):
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"text: unknown cell '{cell}' (choose 'lstm' or 'gru')")
        self.embed = nn.Embedding(vocab_size, embedding)
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(embedding, hidden, batch_first=True)
        self.decoder = nn.Linear(hidden, vocab_size)

    def forward(self, ids, state=None):
        output, state = self.rnn(self.embed(ids), state)
        return self.decoder(output), state


def build_model(config: Config, vocab_size: int) -> CharModel:
    return CharModel(vocab_size, config.embedding, config.hidden, config.cell)


def detach_state(state):
    """The recurrent state cut from the graph: gradients stop at the window's start."""
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def sequence_loss(logits, targets: np.ndarray):
    """Mean cross-entropy in nats over all B*T positions of (B, T, V) logits."""
    b, t, v = logits.shape
    return F.cross_entropy(logits.reshape(b * t, v), pyengine.from_numpy(targets.reshape(b * t)))


# ---- evaluation -----------------------------------------------------------------------------
def evaluate(model: CharModel, ids: np.ndarray, config: Config) -> float:
    """Bits per character of ``ids`` (nats / ln 2), the state carried through
    ``eval_batch_size`` contiguous streams, every character scored once."""
    x, y = streams(ids, max(1, min(config.eval_batch_size, len(ids) - 1)))
    chunk = 4 * config.seq_len  # nothing is back-propagated: longer chunks, fewer calls
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    with pyengine.no_grad():
        for start in range(0, x.shape[1], chunk):
            xs = np.ascontiguousarray(x[:, start:start + chunk])
            ys = y[:, start:start + chunk]
            logits, state = model(pyengine.from_numpy(xs), state)
            total += sequence_loss(logits, ys).item() * ys.size
            count += ys.size
    model.train(was_training)
    return total / count / LN2


# ---- training ---------------------------------------------------------------------------------
@dataclass
class TrainResult:
    model: CharModel
    vocabulary: Vocabulary
    history: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)


def epoch_offset(x: np.ndarray, config: Config, rng) -> int:
    """Where the epoch's first window starts in the streams: a random offset
    below seq_len, so the cuts between windows move from epoch to epoch."""
    return int(rng.integers(0, config.seq_len)) if x.shape[1] > 2 * config.seq_len else 0


def train_one_epoch(model, optimiser, x, y, offset: int, config: Config, progress: Progress) -> float:
    """One pass over the training streams from ``offset`` on, in windows of
    ``seq_len`` characters; returns the training bits per character of the
    windows as they were trained on."""
    model.train()
    total, count, state = 0.0, 0, None
    for start in range(offset, x.shape[1], config.seq_len):
        xs = np.ascontiguousarray(x[:, start:start + config.seq_len])
        ys = y[:, start:start + config.seq_len]
        logits, state = model(pyengine.from_numpy(xs), state)
        state = detach_state(state)
        loss = sequence_loss(logits, ys)
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimiser.step()
        total += loss.item() * ys.size
        count += ys.size
        progress.update(ys.size, bpc=total / count / LN2)
    return total / max(count, 1) / LN2


def plot_curves(history: list[dict], path: str) -> None:
    """Training and validation bits per character against the epoch and against
    the training time."""
    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    minutes = np.cumsum([h["seconds"] for h in history]) / 60
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, xs, label in ((axes[0], epochs, "epoch"), (axes[1], minutes, "training time (minutes)")):
        ax.plot(xs, [h["train_bits_per_char"] for h in history], "o-", label="train")
        ax.plot(xs, [h["val_bits_per_char"] for h in history], "s-", label="validation")
        ax.set(xlabel=label, ylabel="bits per character")
        ax.grid(True, alpha=0.3)
        ax.legend()
    axes[0].xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle("Character language model")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


def train(config: Config, out_dir: str, resume: bool = False, threads: int | None = None,
          log=print, on_epoch_end=None, stream=None) -> TrainResult:
    """Trains the language model, writing into ``out_dir``: checkpoint.pt after
    every epoch, and at the end curves.png and metrics.json.

    With ``resume`` the run continues from ``out_dir/checkpoint.pt`` (weights,
    optimiser, history, random state); its stored configuration is used, except
    that ``config.epochs`` may extend the run. ``on_epoch_end(epoch, history)``
    is called after each saved epoch."""
    config, checkpoint_path, state = start_run(config, out_dir, resume, threads)

    pyengine.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    text = load_corpus(config)
    vocabulary = Vocabulary(state["vocabulary"] if state is not None else text)
    train_ids, val_ids = split_corpus(vocabulary.encode(text), config.val_fraction)
    x, y = streams(train_ids, config.batch_size)
    model = build_model(config, len(vocabulary))
    optimiser = pyengine.optim.Adam(model.parameters(), lr=config.lr)
    history = resume_from(state, checkpoint_path, model, optimiser, rng, log)

    log(f"training on {len(train_ids)} characters, validating on {len(val_ids)}; vocabulary {len(vocabulary)}, "
        f"unigram entropy {unigram_bits_per_char(val_ids, len(vocabulary)):.3f} bits/char; "
        f"{config.cell.upper()} {config.hidden}, {config.epochs} epochs, batch {config.batch_size} x "
        f"{config.seq_len}, {pyengine.get_num_threads()} threads")
    for epoch in range(len(history) + 1, config.epochs + 1):
        offset = epoch_offset(x, config, rng)
        chars = x.shape[0] * (x.shape[1] - offset)
        with Progress(chars, f"epoch {epoch}/{config.epochs}", unit="char", stream=stream) as progress:
            train_bpc = train_one_epoch(model, optimiser, x, y, offset, config, progress)
            seconds = progress.elapsed
        val_bpc = evaluate(model, val_ids, config)
        history.append({"epoch": epoch, "train_bits_per_char": train_bpc, "val_bits_per_char": val_bpc,
                        "seconds": seconds, "chars_per_second": chars / seconds})
        log(f"epoch {epoch}: train {train_bpc:.3f} bits/char, validation {val_bpc:.3f} bits/char, "
            f"{seconds:.1f} s, {chars / seconds:.0f} char/s")
        save_checkpoint(checkpoint_path, model, optimiser, epoch, history, rng, config, vocabulary=vocabulary.chars)
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)

    train_seconds = sum(h["seconds"] for h in history)
    metrics = {
        "val_bits_per_char": history[-1]["val_bits_per_char"] if history else evaluate(model, val_ids, config),
        "train_seconds": train_seconds,
        "epochs": len(history),
        "unigram_bits_per_char": unigram_bits_per_char(val_ids, len(vocabulary)),
        "train_chars": int(len(train_ids)),
        "val_chars": int(len(val_ids)),
        "vocabulary_size": len(vocabulary),
        "threads": pyengine.get_num_threads(),
    }
    if history:
        plot_curves(history, os.path.join(out_dir, "curves.png"))
    write_json(os.path.join(out_dir, "metrics.json"), metrics)
    log(f"validation {metrics['val_bits_per_char']:.3f} bits/char after {train_seconds:.1f} s of training")
    log(f"wrote {checkpoint_path}, curves.png and metrics.json in {out_dir}")
    return TrainResult(model, vocabulary, history, metrics)


# ---- generation -------------------------------------------------------------------------------
def load_generator(checkpoint_path: str) -> tuple[CharModel, Vocabulary]:
    """The trained model and its vocabulary from a checkpoint written by ``train``."""
    state = pyengine.load(checkpoint_path)
    if not isinstance(state, dict) or not {"model", "config", "vocabulary"} <= set(state):
        raise ValueError(f"{checkpoint_path}: not a checkpoint written by `pyengine train text`")
    vocabulary = Vocabulary(state["vocabulary"])
    model = build_model(config_from_state(Config, state["config"]), len(vocabulary))
    model.load_state_dict(state["model"])
    model.eval()
    return model, vocabulary


def generate(model: CharModel, vocabulary: Vocabulary, prime: str = "The ", length: int = 400,
             temperature: float = 0.8, seed: int | None = None) -> str:
    """``prime`` followed by ``length`` sampled characters: each drawn from
    softmax(logits / temperature) given everything before it."""
    if not prime:
        raise ValueError("generate: the prime text must have at least one character")
    if not temperature > 0:
        raise ValueError(f"generate: temperature must be positive, got {temperature}")
    if length < 0:
        raise ValueError(f"generate: length must be non-negative, got {length}")
    rng = np.random.default_rng(seed)
    ids = vocabulary.encode(prime)
    out = []
    model.eval()
    with pyengine.no_grad():
        logits, state = model(pyengine.from_numpy(ids[None, :]))
        for _ in range(length):
            z = logits.numpy()[0, -1].astype(np.float64) / temperature
            p = np.exp(z - z.max())
            nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(nxt)
            logits, state = model(pyengine.from_numpy(np.array([[nxt]], dtype=np.int64)), state)
    return prime + vocabulary.decode(out)
