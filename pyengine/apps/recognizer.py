"""The spoken digit-string recogniser: log-mel features, a bidirectional GRU and CTC.

``train`` synthesises digit strings of 1-5 digits (``pyengine.datasets.spoken_digits``),
learns to transcribe them with the connectionist temporal classification loss,
checkpoints after every epoch and reports the character error rate (CER) of
greedy and beam-search decoding on a held-out synthesised set (and on a folder
of WAV files with ``data``). ``load_recognizer`` and ``Recognizer.transcribe``
turn waveforms into digit strings. The CLI (``pyengine train recognizer``,
``pyengine recognize``) is a thin layer over these functions.
"""
from __future__ import annotations

import math
import os
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

import pyengine
import pyengine.nn.functional as F
from pyengine import nn
from pyengine.apps.progress import Progress
from pyengine.apps.runs import (atomic_write, config_from_state, pyplot, resume_from, save_checkpoint, start_run,
                                 write_json)
from pyengine.datasets import audio
from pyengine.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

SAMPLE_RATE = 8000
BLANK = 0  # class 0 is the CTC blank; digit d is class d + 1
CLASSES = 11
TEST_SEED = 1_000_003  # the held-out set: a seed no training run uses
DYNAMIC_RANGE = 12.0  # nats (about 52 dB) below the loudest mel energy of an utterance are clipped


@dataclass
class Config:
    """Everything that decides a training run; stored in every checkpoint."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 3e-3
    train_size: int = 6000
    test_size: int = 500
    hidden: int = 128
    layers: int = 1
    n_mels: int = 40
    stack: int = 3  # consecutive 10 ms frames stacked into one step of the GRU
    clip: float = 5.0
    seed: int = 0
    min_digits: int = 1
    max_digits: int = 5
    beam: int = 8
    augment: bool = True  # noise and mu-law on the training waveforms, band and time masks on their features
    data: str | None = None

    def check(self) -> None:
        """Raises ValueError naming the first setting that cannot work."""
        for name in ("epochs", "batch_size", "train_size", "test_size", "hidden", "layers", "n_mels", "stack",
                     "beam", "min_digits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "epochs" else 1):
                bound = "non-negative" if name == "epochs" else "positive"
                raise ValueError(f"recognizer: {name} must be a {bound} integer, got {value!r}")
        if not self.max_digits >= self.min_digits:
            raise ValueError(f"recognizer: need min_digits <= max_digits, got {self.min_digits}, {self.max_digits}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"recognizer: the learning rate must be positive, got {self.lr}")
        if self.seed == TEST_SEED:
            raise ValueError(f"recognizer: seed {TEST_SEED} is the held-out set's; choose another")


# ---- features -------------------------------------------------------------------------------
def features(waveform: np.ndarray, config: Config, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(steps, stack * n_mels) float32 inputs of the network for one waveform:
    the log-mel spectrogram (32 ms windows every 10 ms at 8 kHz), clipped to
    DYNAMIC_RANGE below its maximum, normalised per mel band to zero mean and
    unit variance over the utterance (loudness and channel drop out), then
    ``stack`` consecutive frames concatenated (the end padded by repeating the
    last frame), so one step covers stack * 10 ms."""
    x = np.asarray(waveform, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"recognizer: expected a 1-D waveform, got shape {x.shape}")
    if len(x) == 0:
        raise ValueError("recognizer: the waveform holds no samples")
    if sample_rate != SAMPLE_RATE:
        x = audio.resample(x, sample_rate, SAMPLE_RATE)
    spec = audio.log_mel_spectrogram(x, SAMPLE_RATE, n_fft=256, hop=80, n_mels=config.n_mels).astype(np.float64)
    spec = np.maximum(spec, spec.max() - DYNAMIC_RANGE)
    spec = (spec - spec.mean(axis=0)) / (spec.std(axis=0) + 1e-3)
    steps = -(-len(spec) // config.stack)
    spec = np.concatenate([spec, np.repeat(spec[-1:], steps * config.stack - len(spec), axis=0)])
    return spec.reshape(steps, config.stack * config.n_mels).astype(np.float32)


def degrade(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``x`` as a poorer channel would deliver it: white noise at a
    signal-to-noise ratio drawn from 10..40 dB (power of x over its samples
    above 1% of the peak), and in one case out of three the 8-bit mu-law
    round trip that a mu-law speech generator produces."""
    x = np.asarray(x, dtype=np.float64)
    loud = x[np.abs(x) > 0.01 * np.abs(x).max(initial=0.0)]
    power = float(np.mean(loud ** 2)) if len(loud) else 0.0
    snr_db = rng.uniform(10.0, 40.0)
    y = x + rng.standard_normal(len(x)) * math.sqrt(power / 10 ** (snr_db / 10))
    if rng.random() < 1 / 3:
        y = audio.mu_law_decode(audio.mu_law_encode(y))
    return y.astype(np.float32)


def mask_features(x: np.ndarray, lengths: np.ndarray, config: Config, rng: np.random.Generator) -> np.ndarray:
    """SpecAugment on a padded batch (T, B, stack * n_mels), in place: per
    utterance one band of up to n_mels / 5 mel bands and one span of up to 2
    steps set to 0 (the mean after normalisation), so the network cannot lean
    on any one band or instant."""
    steps, batch = x.shape[:2]
    bands = x.reshape(steps, batch, config.stack, config.n_mels)
    for b in range(batch):
        width = int(rng.integers(0, config.n_mels // 5 + 1))
        start = int(rng.integers(0, config.n_mels - width + 1))
        bands[:, b, :, start:start + width] = 0.0
        span = int(rng.integers(0, 3))
        first = int(rng.integers(0, max(1, lengths[b] - span)))
        x[first:first + span, b] = 0.0
    return x


def encode_label(label: str) -> np.ndarray:
    """"314" -> classes [4, 2, 5] (digit d is class d + 1, 0 is the blank)."""
    if not label or not label.isdigit() or not label.isascii():
        raise ValueError(f"recognizer: a label must be a string of digits 0-9, got {label!r}")
    return np.array([int(c) + 1 for c in label], dtype=np.int64)


def decode_classes(classes) -> str:
    return "".join(str(int(c) - 1) for c in classes)


# ---- the model --------------------------------------------------------------------------------
class RecognizerModel(nn.Module):
    """Stacked log-mel frames -> bidirectional GRU -> linear read-out -> log-softmax
    over the blank and the ten digits. Shapes for a batch of B utterances of at
    most T steps: (T, B, stack * n_mels) -> (T, B, 2 hidden) -> (T, B, 11)."""

    def __init__(self, n_features: int, hidden: int = 128, layers: int = 1):
        super().__init__()
        self.rnn = nn.GRU(n_features, hidden, num_layers=layers, bidirectional=True)
        self.output = nn.Linear(2 * hidden, CLASSES)

    def forward(self, x, lengths: np.ndarray):
        """Log-probabilities (T, B, 11) of padded inputs x (T, B, F); the steps
        past lengths[b] neither reach the GRU nor feed its backward direction."""
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        hidden, _ = self.rnn(packed)
        padded, _ = pad_packed_sequence(hidden, total_length=x.shape[0])
        return F.log_softmax(self.output(padded), dim=2)


def build_model(config: Config) -> RecognizerModel:
    return RecognizerModel(config.stack * config.n_mels, config.hidden, config.layers)


def pad_batch(items: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(T, B, F) zero-padded stack of (T_b, F) arrays and their lengths (B,)."""
    lengths = np.array([len(a) for a in items], dtype=np.int64)
    x = np.zeros((int(lengths.max()), len(items), items[0].shape[1]), dtype=np.float32)
    for b, a in enumerate(items):
        x[:len(a), b] = a
    return x, lengths


def length_batches(lengths: np.ndarray, batch_size: int, rng=None) -> list[np.ndarray]:
    """Indices grouped into batches of utterances of similar length (little
    padding): sorted by length, cut into runs of ``batch_size``; with ``rng`` the
    order within equal lengths and the order of the batches are shuffled."""
    lengths = np.asarray(lengths)
    tie_break = rng.random(len(lengths)) if rng is not None else np.arange(len(lengths))
    order = np.lexsort((tie_break, lengths))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def log_posteriors(model: RecognizerModel, feats: list[np.ndarray], batch_size: int = 64) -> list[np.ndarray]:
    """Per utterance its (steps, 11) log-probabilities, in the order of ``feats``."""
    out: list = [None] * len(feats)
    was_training = model.training
    model.eval()
    with pyengine.no_grad():
        for batch in length_batches(np.array([len(f) for f in feats]), batch_size):
            x, lengths = pad_batch([feats[i] for i in batch])
            log_probs = model(pyengine.from_numpy(x), lengths).numpy()
            for b, i in enumerate(batch):
                out[i] = np.array(log_probs[:lengths[b], b])
    model.train(was_training)
    return out


# ---- decoding and scoring -------------------------------------------------------------------
def greedy_decode(log_probs: np.ndarray, blank: int = BLANK) -> list[int]:
    """Best path: the most likely class of every step, repeats merged, blanks dropped."""
    best = np.asarray(log_probs).argmax(axis=1)
    return [int(c) for i, c in enumerate(best) if c != blank and (i == 0 or c != best[i - 1])]


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


def beam_search_decode(log_probs: np.ndarray, beam: int = 8, blank: int = BLANK) -> list[int]:
    """CTC prefix beam search: the label sequence (after merging and dropping
    blanks) of highest total probability, summed over all its alignments, among
    the ``beam`` best prefixes kept at every step.

    Each prefix carries two log-probabilities: of the alignments so far that end
    in a blank (p_b) and that end in its last label (p_nb). At a step with
    log-probabilities lp, prefix l
      - stays l through a blank:           p_b(l)  += (p_b + p_nb)(l) lp[blank]
      - stays l by repeating its last c:   p_nb(l) += p_nb(l) lp[c]
      - becomes l + c with c != last:      p_nb(l + c) += (p_b + p_nb)(l) lp[c]
      - becomes l + c with c == last:      p_nb(l + c) += p_b(l) lp[c]
    (sums and products in log space)."""
    if beam < 1:
        raise ValueError(f"beam_search_decode: beam must be >= 1, got {beam}")
    log_probs = np.asarray(log_probs, dtype=np.float64)
    beams = {(): (0.0, -math.inf)}
    for lp in log_probs.tolist():
        grown: dict = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (p_b, p_nb) in beams.items():
            total = _logaddexp(p_b, p_nb)
            stay = grown[prefix]
            stay[0] = _logaddexp(stay[0], total + lp[blank])
            last = prefix[-1] if prefix else None
            for c, p in enumerate(lp):
                if c == blank:
                    continue
                longer = grown[prefix + (c,)]
                if c == last:
                    stay[1] = _logaddexp(stay[1], p_nb + p)
                    longer[1] = _logaddexp(longer[1], p_b + p)
                else:
                    longer[1] = _logaddexp(longer[1], total + p)
        ranked = sorted(grown.items(), key=lambda item: _logaddexp(*item[1]), reverse=True)
        beams = {prefix: tuple(p) for prefix, p in ranked[:beam]}
    best = max(beams.items(), key=lambda item: _logaddexp(*item[1]))[0]
    return list(best)


def decode(log_probs: np.ndarray, beam: int | None = None) -> str:
    """The digit string of (steps, 11) log-probabilities: greedy when ``beam``
    is None or 1, otherwise prefix beam search of that width."""
    classes = greedy_decode(log_probs) if beam is None or beam == 1 else beam_search_decode(log_probs, beam)
    return decode_classes(classes)


def edit_distance(a, b) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions
    that turn sequence ``a`` into ``b``."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def character_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Sum of the edit distances between each hypothesis and its reference,
    divided by the total number of reference characters."""
    if len(references) != len(hypotheses):
        raise ValueError(f"character_error_rate: {len(references)} references but {len(hypotheses)} hypotheses")
    total = sum(len(r) for r in references)
    if total == 0:
        raise ValueError("character_error_rate: the references hold no characters")
    return sum(edit_distance(r, h) for r, h in zip(references, hypotheses)) / total


# ---- the public interface -------------------------------------------------------------------
class Recognizer:
    """A trained model with the feature settings it was trained with."""

    def __init__(self, model: RecognizerModel, config: Config):
        self.model = model
        self.config = config
        model.eval()

    def posteriors(self, waveforms, sample_rate: int = SAMPLE_RATE) -> list[np.ndarray]:
        """Per waveform its (steps, 11) log-probabilities: column 0 the blank,
        column d + 1 the digit d; a step is config.stack * 10 ms."""
        return log_posteriors(self.model, [features(w, self.config, sample_rate) for w in waveforms])

    def transcribe(self, waveforms, sample_rate: int = SAMPLE_RATE, beam: int | None = 8) -> list[str]:
        """The digit string heard in each waveform (float samples in [-1, 1]);
        ``beam`` None or 1 decodes greedily."""
        if beam is not None and (isinstance(beam, bool) or not isinstance(beam, int) or beam < 1):
            raise ValueError(f"transcribe: beam must be a positive integer or None, got {beam!r}")
        if not sample_rate > 0:
            raise ValueError(f"transcribe: sample_rate must be positive, got {sample_rate}")
        return [decode(lp, beam) for lp in self.posteriors(waveforms, sample_rate)]


def load_recognizer(checkpoint_path: str) -> Recognizer:
    """The recogniser stored by ``train`` in ``checkpoint_path``. Raises
    FileNotFoundError when there is no such file and ValueError when it is not
    a recogniser checkpoint."""
    if not os.path.isfile(checkpoint_path):
        raise FileNotFoundError(f"{checkpoint_path}: no such checkpoint (train one with `pyengine train recognizer`)")
    state = pyengine.load(checkpoint_path)
    if not isinstance(state, dict) or state.get("app") != "recognizer" or not {"model", "config"} <= set(state):
        raise ValueError(f"{checkpoint_path}: not a checkpoint written by `pyengine train recognizer`")
    config = config_from_state(Config, state["config"])
    model = build_model(config)
    model.load_state_dict(state["model"])
    return Recognizer(model, config)


# ---- data -------------------------------------------------------------------------------------
@dataclass
class Utterances:
    """Network inputs with their digit-string labels (and the waveforms when kept)."""
    feats: list
    labels: list
    waveforms: list | None = None

    def __len__(self) -> int:
        return len(self.labels)


def synthesised_set(count: int, seed: int, config: Config, desc: str, stream=None,
                    keep_waveforms: bool = False, degraded: bool = False) -> Utterances:
    """``count`` strings of ``spoken_digits`` with their features; with
    ``degraded`` each waveform first goes through ``degrade`` (drawn from seed)."""
    from pyengine.datasets import spoken_digits

    with Progress(count, desc, unit="utt", stream=stream) as progress:
        spoken = spoken_digits(count, seed=seed, min_digits=config.min_digits, max_digits=config.max_digits,
                               sample_rate=SAMPLE_RATE, progress=lambda done: progress.update(done - progress.count))
        if degraded:
            rng = np.random.default_rng([seed, 1])
            spoken.waveforms = [degrade(w, rng) for w in spoken.waveforms]
        feats = [features(w, config) for w in spoken.waveforms]
        progress.update(count - progress.count)
    return Utterances(feats, list(spoken.labels), spoken.waveforms if keep_waveforms else None)


def wav_folder_set(folder: str, config: Config, log=print) -> Utterances:
    """The recordings of ``folder`` whose file names start with a digit string."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = audio.load_wav_folder(folder, SAMPLE_RATE)
    for w in caught:
        log(str(w.message))
    usable = []
    for r in found.recordings:
        if r.label.isdigit() and r.label.isascii():
            usable.append(r)
        else:
            log(f"recognizer: skipping {r.path}: its label {r.label!r} is not a digit string")
    if not usable:
        raise ValueError(f"--data: {folder} holds no readable <digits>_<speaker>_<index>.wav files")
    return Utterances([features(r.samples, config) for r in usable], [r.label for r in usable])


def evaluate(model: RecognizerModel, data: Utterances, beam: int | None) -> tuple[float, list[str]]:
    """(CER, hypotheses) of ``data`` decoded greedily (beam None) or by beam search."""
    hypotheses = [decode(lp, beam) for lp in log_posteriors(model, data.feats)]
    return character_error_rate(data.labels, hypotheses), hypotheses


# ---- training ---------------------------------------------------------------------------------
@dataclass
class TrainResult:
    recognizer: Recognizer
    history: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)


def train_one_epoch(model, optimiser, data: Utterances, targets: list[np.ndarray], config: Config, rng,
                    progress: Progress) -> float:
    """One pass over the training set in length-sorted batches; returns the mean
    CTC loss per target label (nats)."""
    model.train()
    total, count = 0.0, 0
    for batch in length_batches(np.array([len(f) for f in data.feats]), config.batch_size, rng):
        x, lengths = pad_batch([data.feats[i] for i in batch])
        if config.augment:
            mask_features(x, lengths, config, rng)
        target_lengths = np.array([len(targets[i]) for i in batch], dtype=np.int64)
        flat_targets = np.concatenate([targets[i] for i in batch])
        log_probs = model(pyengine.from_numpy(x), lengths)
        loss = F.ctc_loss(log_probs, pyengine.from_numpy(flat_targets), pyengine.from_numpy(lengths),
                          pyengine.from_numpy(target_lengths), blank=BLANK, zero_infinity=True)
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimiser.step()
        total += loss.item() * len(batch)
        count += len(batch)
        progress.update(len(batch), loss=total / count)
    return total / max(count, 1)


def plot_curves(history: list[dict], path: str) -> None:
    """Training CTC loss and held-out greedy CER against the epoch and against time."""
    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    minutes = np.cumsum([h["seconds"] for h in history]) / 60
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    axes[0].plot(epochs, [h["train_loss"] for h in history], "o-")
    axes[0].set(xlabel="epoch", ylabel="CTC loss per label (nats)", title="training loss", yscale="log")
    for ax, xs, label in ((axes[1], epochs, "epoch"), (axes[2], minutes, "training time (minutes)")):
        ax.plot(xs, [100 * h["test_cer_greedy"] for h in history], "s-", color="C1")
        ax.set(xlabel=label, ylabel="character error rate (%)", title="held-out CER (greedy)", ylim=(0, None))
    for ax in axes:
        ax.grid(True, alpha=0.3)
    axes[0].xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle("Spoken digit-string recogniser")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


def plot_example(recognizer: Recognizer, waveform: np.ndarray, label: str, path: str, beam: int | None = 8) -> None:
    """A picture of one utterance: its log-mel spectrogram over the CTC
    posteriors of every step, titled with the reference and the decoding."""
    plt = pyplot()
    spec = audio.log_mel_spectrogram(waveform, SAMPLE_RATE, n_mels=recognizer.config.n_mels)
    log_probs = recognizer.posteriors([waveform])[0]
    probs = np.exp(log_probs)
    step_seconds = recognizer.config.stack * 0.01
    fig, axes = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, gridspec_kw={"height_ratios": [1.3, 1]})
    axes[0].imshow(np.maximum(spec, spec.max() - DYNAMIC_RANGE).T, origin="lower", aspect="auto", cmap="magma",
                   extent=(0, len(spec) * 0.01, 0, spec.shape[1]))
    axes[0].set_xlim(0, len(probs) * step_seconds)
    axes[0].set(ylabel="mel band", title=f"reference {label!r}, greedy {decode(log_probs)!r}, "
                                         f"beam search {decode(log_probs, beam)!r}")
    t = (np.arange(len(probs)) + 0.5) * step_seconds
    axes[1].plot(t, probs[:, BLANK], "k--", lw=1, label="blank")
    best = probs.argmax(axis=1)
    for d in range(10):
        axes[1].plot(t, probs[:, d + 1], lw=1.5, color=plt.cm.tab10(d), label=str(d))
    for start in np.flatnonzero((best != BLANK) & np.r_[True, best[1:] != best[:-1]]):  # where greedy emits
        c = best[start]
        axes[1].text(t[start], probs[start, c] + 0.03, str(c - 1), ha="center", fontsize=10,
                     color=plt.cm.tab10(c - 1))
    axes[1].set(xlabel="time (s)", ylabel="CTC posterior", ylim=(0, 1.15))
    axes[1].legend(ncol=11, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.28), frameon=False)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


def train(config: Config, out_dir: str, resume: bool = False, threads: int | None = None,
          log=print, on_epoch_end=None, stream=None) -> TrainResult:
    """Trains the recogniser, writing into ``out_dir``: checkpoint.pt after
    every epoch, and at the end curves.png, example.png and metrics.json.

    With ``resume`` the run continues from ``out_dir/checkpoint.pt`` (weights,
    optimiser, history, random state); its stored configuration is used, except
    that ``config.epochs`` may extend the run. ``on_epoch_end(epoch, history)``
    is called after each saved epoch."""
    config.check()
    if config.data is not None and not os.path.isdir(config.data):
        raise FileNotFoundError(f"--data: no folder {config.data}")
    config, checkpoint_path, state = start_run(config, out_dir, resume, threads)

    pyengine.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_set = synthesised_set(config.train_size, config.seed, config, "synthesising training set", stream,
                                degraded=config.augment)
    test_set = synthesised_set(config.test_size, TEST_SEED, config, "synthesising held-out set", stream,
                               keep_waveforms=True)
    data_set = wav_folder_set(config.data, config, log) if config.data else None
    targets = [encode_label(label) for label in train_set.labels]
    model = build_model(config)
    optimiser = pyengine.optim.Adam(model.parameters(), lr=config.lr)
    history = resume_from(state, checkpoint_path, model, optimiser, rng, log)

    # A model that has learnt nothing emits blanks only: every reference character is deleted (CER 1).
    log(f"training on {len(train_set)} synthesised strings of {config.min_digits}-{config.max_digits} digits, "
        f"testing on {len(test_set)}" + (f" and {len(data_set)} recordings of {config.data}" if data_set else "")
        + f"; biGRU {config.hidden} x {config.layers}, {config.epochs} epochs, batch {config.batch_size}, "
        f"{pyengine.get_num_threads()} threads")
    for epoch in range(len(history) + 1, config.epochs + 1):
        with Progress(len(train_set), f"epoch {epoch}/{config.epochs}", unit="utt", stream=stream) as progress:
            train_loss = train_one_epoch(model, optimiser, train_set, targets, config, rng, progress)
            seconds = progress.elapsed
        test_cer, _ = evaluate(model, test_set, None)
        history.append({"epoch": epoch, "train_loss": train_loss, "test_cer_greedy": test_cer, "seconds": seconds,
                        "utterances_per_second": len(train_set) / seconds})
        log(f"epoch {epoch}: CTC loss {train_loss:.4f}, held-out CER {100 * test_cer:.2f}% (greedy), "
            f"{seconds:.1f} s, {len(train_set) / seconds:.0f} utt/s")
        save_checkpoint(checkpoint_path, model, optimiser, epoch, history, rng, config, app="recognizer")
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)

    recognizer = Recognizer(model, config)
    cer_greedy, _ = evaluate(model, test_set, None)
    cer, hypotheses = evaluate(model, test_set, config.beam)
    metrics = {
        "cer": cer,
        "cer_greedy": cer_greedy,
        "train_seconds": sum(h["seconds"] for h in history),
        "epochs": len(history),
        "beam": config.beam,
        "baseline_cer": 1.0,
        "test_utterances": len(test_set),
        "test_characters": sum(len(label) for label in test_set.labels),
        "test_strings_wrong": sum(h != r for h, r in zip(hypotheses, test_set.labels)),
        "train_utterances": len(train_set),
        "parameters": sum(p.numel() for p in model.parameters()),
        "threads": pyengine.get_num_threads(),
    }
    # The same held-out strings through a noisy channel: how much the recogniser leans on clean audio.
    rng_noise = np.random.default_rng([TEST_SEED, 1])
    noisy_set = Utterances([features(degrade(w, rng_noise), config) for w in test_set.waveforms], test_set.labels)
    metrics["cer_noisy"], _ = evaluate(model, noisy_set, config.beam)
    summary = f"held-out CER {100 * cer:.2f}% (beam {config.beam}), {100 * cer_greedy:.2f}% (greedy), " \
              f"{100 * metrics['cer_noisy']:.2f}% with noise (beam)"
    if data_set is not None:
        metrics["cer_data"], _ = evaluate(model, data_set, config.beam)
        metrics["cer_data_greedy"], _ = evaluate(model, data_set, None)
        metrics["data_utterances"] = len(data_set)
        summary += f"; {config.data}: CER {100 * metrics['cer_data']:.2f}% (beam), " \
                   f"{100 * metrics['cer_data_greedy']:.2f}% (greedy)"
    if history:
        plot_curves(history, os.path.join(out_dir, "curves.png"))
        # The first of the longest held-out strings, whether it is recognised or not.
        i = int(np.argmax([len(label) for label in test_set.labels]))
        plot_example(recognizer, test_set.waveforms[i], test_set.labels[i], os.path.join(out_dir, "example.png"),
                     config.beam)
    write_json(os.path.join(out_dir, "metrics.json"), metrics)
    log(f"{summary} after {metrics['train_seconds']:.1f} s of training")
    log(f"wrote {checkpoint_path}, curves.png, example.png and metrics.json in {out_dir}")
    return TrainResult(recognizer, history, metrics)
