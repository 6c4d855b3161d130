"""The speech generator: an autoregressive model of 8-bit mu-law waveforms,
conditioned on the spoken word, drawn pre-emphasised.

``train`` learns p(code_t | codes_<t, word, time) on synthesised single spoken
digits (``pyengine.datasets.spoken_digits``), checkpoints after every epoch,
and reports the validation negative log-likelihood in bits per sample beside
two baselines on the same data: a smoothed code histogram and an order-16
linear predictor. ``generate`` samples a waveform for a word. The CLI
(``pyengine train speech``, ``pyengine generate speech``) is a thin layer over
these functions; docs/speech-generator.md has the equations.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

import pyengine
import pyengine.nn.functional as F
from pyengine import nn
from pyengine.apps.progress import Progress
from pyengine.apps.runs import (atomic_write, config_from_state, pyplot, resume_from, save_checkpoint, start_run,
                                 write_json)
from pyengine.datasets.audio import (de_emphasis, log_mel_spectrogram, mu_law_decode, mu_law_encode, pre_emphasis,
                                     write_wav)
from pyengine.datasets.speech import DIGIT_WORDS, VOICES, spoken_digits

LN2 = math.log(2.0)
CODES = 256
SILENCE = 128  # the code of a zero sample: what the model sees before a word starts
SAMPLE_RATE = 8000
TRAIN_DATA_SEED, VAL_DATA_SEED = 1, 2  # two different synthesised sets
DEFAULT_RECOGNIZER = os.path.join("runs", "recognizer", "checkpoint.pt")


@dataclass
class Config:
    """Everything that decides a training run; stored in every checkpoint."""

    model: str = "gru"
    epochs: int = 6
    batch_size: int = 6       # one 6-row AVX2 register tile of the GEMM per time step
    lr: float = 5e-3
    clip: float = 1.0
    seed: int = 0
    train_size: int = 1000
    val_size: int = 100
    channels: int = 32       # WaveNet residual channels
    skip_channels: int = 64  # WaveNet skip channels
    layers: int = 10         # WaveNet layers, dilations 1, 2, 4, ... 2^(layers-1)
    hidden: int = 256        # GRU state size
    embedding: int = 32      # size of the previous-code embedding (GRU)
    condition: int = 16      # size of the word-and-time conditioning vector
    frames: int = 16         # steps of the position within the word that are told apart
    lpc_order: int = 16
    eval_batch_size: int = 16
    voice: str = "all"       # one eSpeak NG voice of speech.VOICES, or "all" of them
    pre_emphasis: float = 0.9  # the model learns x_t - a x_(t-1); a drawn waveform is de-emphasised
    # What a checkpoint stored before a field existed was trained with.
    saved_before: ClassVar[dict] = {"pre_emphasis": 0.0}

    def voice_set(self) -> tuple:
        return VOICES if self.voice == "all" else (self.voice,)


def parse_word(word: str) -> int:
    """"seven" or "7" -> 7."""
    key = str(word).strip().lower()
    if key.isdigit() and len(key) == 1:
        return int(key)
    if key in DIGIT_WORDS:
        return DIGIT_WORDS.index(key)
    raise ValueError(f"unknown word {word!r}: choose one of {', '.join(DIGIT_WORDS)} or a digit 0-9")


# ---- data ---------------------------------------------------------------------------------------
@dataclass
class Utterances:
    """Mu-law codes (uint8 arrays, one per utterance) and their digits."""
    codes: list
    words: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def samples(self) -> int:
        return int(sum(len(c) for c in self.codes))


def load_utterances(count: int, seed: int, config: Config, progress=None) -> Utterances:
    """Spoken digits as the model sees them: pre-emphasised, then mu-law coded
    (a pre-emphasised sample past [-1, 1], rare, is clipped by the coding)."""
    s = spoken_digits(count, seed=seed, min_digits=1, max_digits=1, sample_rate=SAMPLE_RATE,
                      voices=config.voice_set(), progress=progress)
    return Utterances([mu_law_encode(pre_emphasis(w, config.pre_emphasis)) for w in s.waveforms],
                      np.array([int(l) for l in s.labels], np.int64))


def waveform_of(codes: np.ndarray, config: Config) -> np.ndarray:
    """Codes the model drew -> the waveform they say: mu-law decoded,
    de-emphasised and clipped to [-1, 1] (the de-emphasis has a gain of
    1 / (1 - a) at 0 Hz, so a drawn offset can go past full scale)."""
    return np.clip(de_emphasis(mu_law_decode(codes), config.pre_emphasis), -1.0, 1.0)


def condition_ids(words, times, lengths, config: Config) -> np.ndarray:
    """Index of the (word, position) conditioning vector of sample t of a word
    of ``length`` samples: word * frames + min(t * frames // length, frames - 1).
    The position is relative, so the same sound of the word gets the same step
    at any speaking rate. ``words`` and ``lengths`` (B,) and ``times`` (L,) give (B, L)."""
    lengths = np.maximum(np.asarray(lengths, np.int64).reshape(-1, 1), 1)
    step = np.minimum(np.asarray(times, np.int64).reshape(1, -1) * config.frames // lengths, config.frames - 1)
    return np.asarray(words, np.int64).reshape(-1, 1) * config.frames + step


def make_batch(data: Utterances, index: np.ndarray, config: Config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(previous codes, conditioning ids, targets), each (B, L) for the longest
    L of the chosen utterances: inputs are the codes shifted right by one
    (SILENCE first), the targets of the padding past an utterance's end are
    -100, which the loss ignores."""
    length = max(len(data.codes[i]) for i in index)
    inputs = np.full((len(index), length), SILENCE, np.int64)
    targets = np.full((len(index), length), -100, np.int64)
    for row, i in enumerate(index):
        c = data.codes[i]
        targets[row, :len(c)] = c
        inputs[row, 1:len(c)] = c[:-1]
    lengths = [len(data.codes[i]) for i in index]
    return inputs, condition_ids(data.words[index], np.arange(length), lengths, config), targets


def length_batches(data: Utterances, batch: int, rng) -> list[np.ndarray]:
    """Utterances in batches of similar length (less padding): a random order,
    sorted by length within groups of 16 batches, the batches shuffled."""
    order = rng.permutation(len(data))
    lengths = np.array([len(c) for c in data.codes])
    batches = []
    for start in range(0, len(order), 16 * batch):
        group = order[start:start + 16 * batch]
        group = group[np.argsort(lengths[group], kind="stable")]
        batches += [group[i:i + batch] for i in range(0, len(group), batch)]
    return [batches[i] for i in rng.permutation(len(batches))]


# ---- baselines ----------------------------------------------------------------------------------
def histogram_bits(train_codes: np.ndarray, val_codes: np.ndarray, bins: int = CODES) -> float:
    """Cross-entropy in bits per sample of ``val_codes`` under the code
    frequencies of ``train_codes`` with add-one smoothing:
    p(c) = (n_c + 1) / (N + bins)."""
    counts = np.bincount(np.asarray(train_codes, np.int64).ravel(), minlength=bins).astype(np.float64)
    p = (counts + 1.0) / (counts.sum() + bins)
    return float(-np.log2(p[np.asarray(val_codes, np.int64).ravel()]).mean())


def levinson_durbin(r: np.ndarray, order: int) -> np.ndarray:
    """Coefficients a_1..a_order minimising the prediction error of
    x_t ~ sum_k a_k x_(t-k) given the autocorrelation r_0..r_order
    (the normal equations sum_k a_k r_|i-k| = r_i, solved by the recursion)."""
    r = np.asarray(r, np.float64)
    a = np.zeros(order)
    error = r[0]
    for m in range(order):
        if error <= 0:
            break
        k = (r[m + 1] - a[:m] @ r[m:0:-1]) / error
        a[:m] = a[:m] - k * a[:m][::-1]
        a[m] = k
        error *= 1.0 - k * k
    return a


def fit_lpc(signals: list, order: int) -> np.ndarray:
    """Order-``order`` linear predictor of a set of signals by the
    autocorrelation method: each signal zero outside its samples, the
    autocorrelations summed over the set, then Levinson-Durbin. This is the
    least-squares fit of every sample of every zero-padded signal."""
    r = np.zeros(order + 1)
    for x in signals:
        x = np.asarray(x, np.float64)
        n = len(x)
        r += [x[:n - k] @ x[k:] if k < n else 0.0 for k in range(order + 1)]
    return levinson_durbin(r, order)


def lpc_predict(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """x_hat_t = sum_k a_k x_(t-k), with zeros before the signal's start."""
    x = np.asarray(x, np.float64)
    return np.convolve(x, np.concatenate([[0.0], a]))[:len(x)]


def lpc_residual_codes(codes: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(code_t - predicted code_t, predicted code_t): the predictor runs on the
    mu-law-decoded waveform and its prediction is mu-law encoded."""
    predicted = mu_law_encode(np.clip(lpc_predict(mu_law_decode(codes), a), -1.0, 1.0)).astype(np.int64)
    return np.asarray(codes, np.int64) - predicted, predicted


def lpc_bits(train_codes: list, val_codes: list, order: int = 16) -> tuple[float, np.ndarray]:
    """(bits per sample, coefficients) of the order-``order`` linear predictor
    as a model over the 256 codes: coefficients fitted on the decoded training
    waveforms; the residual r = code - predicted code gets a histogram over
    -255..255 from the training residuals (add-one smoothing); then
    p(code | past) = h(code - predicted) / sum over the 256 codes c of h(c - predicted),
    and the result is the mean -log2 p over the validation codes."""
    a = fit_lpc([mu_law_decode(c) for c in train_codes], order)
    train_res = np.concatenate([lpc_residual_codes(c, a)[0] for c in train_codes])
    h = np.bincount(train_res + CODES - 1, minlength=2 * CODES - 1).astype(np.float64) + 1.0
    # normaliser[p] = sum_c h[c - p], c = 0..255: the residuals a prediction p leaves possible
    window = np.concatenate([[0.0], np.cumsum(h)])
    predictions = np.arange(CODES)
    normaliser = window[2 * CODES - 1 - predictions] - window[CODES - 1 - predictions]
    total, count = 0.0, 0
    for c in val_codes:
        res, predicted = lpc_residual_codes(c, a)
        total += float((np.log2(normaliser[predicted]) - np.log2(h[res + CODES - 1])).sum())
        count += len(c)
    return total / count, a


# ---- the models ---------------------------------------------------------------------------------
class WaveNet(nn.Module):
    """A stack of gated, dilated causal convolutions with residual and skip
    connections, written as matrix products over (B, L, channels) arrays: a
    causal convolution of 2 taps at dilation d is one linear map of the input
    at t - d next to the input at t. For B utterances of L samples, R = channels:
    previous codes (B, L) -> embedding x (B, L, R); in layer k with dilation d_k
      h_t = W_k [x_(t-d_k); x_t] + b_k + V_k c_t    (B, L, 2R), x before the start = 0
      z_t = tanh(h_t[:R]) * sigmoid(h_t[R:])
      x_t <- x_t + U_k z_t,  skip_t += S_k z_t
    logits_t = O_2 relu(O_1 relu(skip_t) + o_1) + o_2    (B, L, 256)."""

    def __init__(self, config: Config):
        super().__init__()
        r, s, e = config.channels, config.skip_channels, config.condition
        self.dilations = [2 ** k for k in range(config.layers)]
        self.embed = nn.Embedding(CODES, r)
        self.condition = nn.Embedding(10 * config.frames, e)
        self.dilated = nn.ModuleList([nn.Linear(2 * r, 2 * r) for _ in self.dilations])
        self.conditioning = nn.ModuleList([nn.Linear(e, 2 * r, bias=False) for _ in self.dilations])
        self.residual_skip = nn.ModuleList([nn.Linear(r, r + s) for _ in self.dilations])
        self.hidden = nn.Linear(s, s)
        self.output = nn.Linear(s, CODES)

    def forward(self, inputs, conditions):
        r = self.embed.embedding_dim
        length = inputs.shape[1]
        x = self.embed(inputs)                                                # (B, L, R)
        c = self.condition(conditions)                                        # (B, L, E)
        skip = None
        for d, dilated, cond, res_skip in zip(self.dilations, self.dilated, self.conditioning, self.residual_skip):
            past = F.pad(x, (0, 0, d, 0))[:, :length]                         # (B, L, R): x_(t-d)
            h = dilated(pyengine.cat([past, x], dim=2)) + cond(c)             # (B, L, 2R)
            z = h[:, :, :r].tanh() * h[:, :, r:].sigmoid()                    # (B, L, R)
            out = res_skip(z)                                                 # (B, L, R + S)
            x = x + out[:, :, :r]
            skip = out[:, :, r:] if skip is None else skip + out[:, :, r:]
        return self.output(F.relu(self.hidden(F.relu(skip))))                # (B, L, 256)

    def sampler(self, words: np.ndarray, lengths, config: Config) -> "WaveNetSampler":
        return WaveNetSampler(self, words, lengths, config)


class SampleGRU(nn.Module):
    """A sample-level recurrent model: the input at t is the embedding of
    code_(t-1) next to the conditioning vector c_t; a GRU carries the state,
    logits_t = O h_t + o. Shapes: (B, L) -> (B, L, E + C) -> (B, L, H) -> (B, L, 256)."""

    def __init__(self, config: Config):
        super().__init__()
        self.embed = nn.Embedding(CODES, config.embedding)
        self.condition = nn.Embedding(10 * config.frames, config.condition)
        self.rnn = nn.GRU(config.embedding + config.condition, config.hidden, batch_first=True)
        self.output = nn.Linear(config.hidden, CODES)

    def forward(self, inputs, conditions):
        x = pyengine.cat([self.embed(inputs), self.condition(conditions)], dim=2)
        h, _ = self.rnn(x)
        return self.output(h)                                                 # (B, L, 256)

    def sampler(self, words: np.ndarray, lengths, config: Config) -> "GRUSampler":
        return GRUSampler(self, words, lengths, config)


MODELS = {"wavenet": WaveNet, "gru": SampleGRU}


def build_model(config: Config) -> nn.Module:
    if config.model not in MODELS:
        raise ValueError(f"speech: unknown model {config.model!r} (choose {' or '.join(MODELS)})")
    return MODELS[config.model](config)


# ---- sampling: one step at a time, in NumPy ---------------------------------------------------
def _array(p) -> np.ndarray:
    return p.detach().numpy().astype(np.float64)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class WaveNetSampler:
    """The WaveNet for B utterances one sample at a time: layer k keeps its
    last d_k inputs in a ring buffer, so a step costs one product per tap
    instead of recomputing the receptive field."""

    def __init__(self, model: WaveNet, words: np.ndarray, lengths, config: Config):
        self.config, self.words, self.lengths = config, np.asarray(words, np.int64), lengths
        self.dilations = model.dilations
        self.embed = _array(model.embed.weight)
        # the conditioning term of every layer for each (word, time step): (10 * frames, 2R) per layer
        table = _array(model.condition.weight)
        self.cond = [table @ _array(c.weight).T for c in model.conditioning]
        self.r = r = model.embed.embedding_dim
        self.taps = [(_array(m.weight)[:, :r], _array(m.weight)[:, r:], _array(m.bias)) for m in model.dilated]
        self.res_skip = [(_array(m.weight), _array(m.bias)) for m in model.residual_skip]
        self.hidden = (_array(model.hidden.weight), _array(model.hidden.bias))
        self.output = (_array(model.output.weight), _array(model.output.bias))
        # the causal padding of training: every layer's inputs before the start are zero
        self.buffers = [np.zeros((d, len(self.words), self.r)) for d in self.dilations]
        self.t = 0

    def _layer(self, k, x, past, cond_ids):
        w_past, w_now, b = self.taps[k]
        h = past @ w_past.T + x @ w_now.T + b + self.cond[k][cond_ids]
        z = np.tanh(h[:, :self.r]) * _sigmoid(h[:, self.r:])
        w, b = self.res_skip[k]
        out = z @ w.T + b
        return x + out[:, :self.r], out[:, self.r:]

    def step(self, previous: np.ndarray) -> np.ndarray:
        """Logits (B, 256) of the sample at t given the codes at t - 1."""
        cond_ids = condition_ids(self.words, [self.t], self.lengths, self.config)[:, 0]
        x = self.embed[previous]
        skip = 0.0
        for k, d in enumerate(self.dilations):
            slot = self.t % d
            past = self.buffers[k][slot].copy()
            self.buffers[k][slot] = x
            x, s = self._layer(k, x, past, cond_ids)
            skip = skip + s
        self.t += 1
        w, b = self.hidden
        h = np.maximum(np.maximum(skip, 0.0) @ w.T + b, 0.0)
        w, b = self.output
        return h @ w.T + b


class GRUSampler:
    """The GRU for B utterances one sample at a time, the state carried."""

    def __init__(self, model: SampleGRU, words: np.ndarray, lengths, config: Config):
        self.config, self.words, self.lengths = config, np.asarray(words, np.int64), lengths
        self.embed, self.cond = _array(model.embed.weight), _array(model.condition.weight)
        self.w_ih, self.w_hh = _array(model.rnn.weight_ih_l0), _array(model.rnn.weight_hh_l0)
        self.b_ih, self.b_hh = _array(model.rnn.bias_ih_l0), _array(model.rnn.bias_hh_l0)
        self.out_w, self.out_b = _array(model.output.weight), _array(model.output.bias)
        self.h = np.zeros((len(self.words), self.w_hh.shape[1]))
        self.t = 0

    def step(self, previous: np.ndarray) -> np.ndarray:
        cond_ids = condition_ids(self.words, [self.t], self.lengths, self.config)[:, 0]
        x = np.concatenate([self.embed[previous], self.cond[cond_ids]], axis=1)
        gi, gh = x @ self.w_ih.T + self.b_ih, self.h @ self.w_hh.T + self.b_hh
        n_h = self.h.shape[1]
        r = _sigmoid(gi[:, :n_h] + gh[:, :n_h])
        z = _sigmoid(gi[:, n_h:2 * n_h] + gh[:, n_h:2 * n_h])
        n = np.tanh(gi[:, 2 * n_h:] + r * gh[:, 2 * n_h:])
        self.h = (1.0 - z) * n + z * self.h
        self.t += 1
        return self.h @ self.out_w.T + self.out_b


def sample_codes(model: nn.Module, config: Config, words, length: int, temperature: float = 1.0,
                 seed: int | None = None, stream=None, word_lengths=None) -> np.ndarray:
    """(B, length) codes drawn one at a time from softmax(logits / temperature)
    for the words (digits) ``words``, paced as words of ``word_lengths``
    samples (default: ``length`` each)."""
    if not temperature > 0:
        raise ValueError(f"generate: temperature must be positive, got {temperature}")
    if length < 1:
        raise ValueError(f"generate: length must be at least one sample, got {length}")
    rng = np.random.default_rng(seed)
    words = np.asarray(words, np.int64)
    sampler = model.sampler(words, np.full(len(words), length) if word_lengths is None else word_lengths, config)
    previous = np.full(len(sampler.words), SILENCE, np.int64)
    codes = np.empty((len(sampler.words), length), np.int64)
    with Progress(length, "sampling", unit="sample", stream=stream) as progress:
        for t in range(length):
            z = sampler.step(previous) / temperature
            p = np.exp(z - z.max(axis=1, keepdims=True))
            cdf = np.cumsum(p, axis=1)
            u = rng.random(len(previous))[:, None] * cdf[:, -1:]
            previous = np.minimum((cdf < u).sum(axis=1), CODES - 1)
            codes[:, t] = previous
            if t % 100 == 99 or t == length - 1:
                progress.update(t + 1 - progress.count)
    return codes


# ---- evaluation and training --------------------------------------------------------------------
def batch_loss(model: nn.Module, data: Utterances, index: np.ndarray, config: Config):
    """(mean cross-entropy in nats over the batch's real samples, their count)."""
    inputs, conditions, targets = make_batch(data, index, config)
    logits = model(pyengine.from_numpy(inputs), pyengine.from_numpy(conditions))        # (B, L, 256)
    return F.cross_entropy(logits.reshape(-1, CODES), pyengine.from_numpy(targets.reshape(-1))), \
        int((targets >= 0).sum())


def evaluate(model: nn.Module, data: Utterances, config: Config) -> float:
    """Mean over every sample of ``data`` of -log2 p(code_t | codes_<t, word)."""
    was_training = model.training
    model.eval()
    order = np.argsort([len(c) for c in data.codes], kind="stable")
    total, count = 0.0, 0
    with pyengine.no_grad():
        for start in range(0, len(order), config.eval_batch_size):
            loss, n = batch_loss(model, data, order[start:start + config.eval_batch_size], config)
            total += loss.item() * n
            count += n
    model.train(was_training)
    return total / count / LN2


def train_one_epoch(model, optimiser, data: Utterances, batches: list, config: Config, progress: Progress) -> float:
    """One pass over the training utterances; returns the training bits per
    sample of the batches as they were trained on."""
    model.train()
    total, count = 0.0, 0
    for index in batches:
        loss, n = batch_loss(model, data, index, config)
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimiser.step()
        total += loss.item() * n
        count += n
        progress.update(n, bits=total / count / LN2)
    return total / max(count, 1) / LN2


def plot_curves(history: list[dict], baselines: dict, path: str) -> None:
    """Training and validation bits per sample against the epoch and against
    the training time, with the two baselines as horizontal lines."""
    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    minutes = np.cumsum([h["seconds"] for h in history]) / 60
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, xs, label in ((axes[0], epochs, "epoch"), (axes[1], minutes, "training time (minutes)")):
        ax.plot(xs, [h["train_bits_per_sample"] for h in history], "o-", label="train")
        ax.plot(xs, [h["val_bits_per_sample"] for h in history], "s-", label="validation")
        for (name, value), style in zip(baselines.items(), (":", "--")):
            ax.axhline(value, color="gray", linestyle=style, label=name)
        ax.set(xlabel=label, ylabel="bits per sample")
        ax.grid(True, alpha=0.3)
        ax.legend()
    axes[0].xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle("Speech generator: negative log-likelihood")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


def mean_lengths(data: Utterances) -> list[int]:
    """The mean number of samples of each digit's utterances: the default length of a generated word."""
    lengths = np.array([len(c) for c in data.codes])
    overall = int(lengths.mean()) if len(lengths) else SAMPLE_RATE // 2
    return [int(lengths[data.words == d].mean()) if (data.words == d).any() else overall for d in range(10)]


@dataclass
class TrainResult:
    model: nn.Module
    history: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)


def train(config: Config, out_dir: str, resume: bool = False, threads: int | None = None,
          recognizer: str | None = None, words_per_digit: int = 10, log=print, on_epoch_end=None,
          stream=None) -> TrainResult:
    """Trains the speech generator, writing into ``out_dir``: checkpoint.pt
    after every epoch, and at the end curves.png and metrics.json.

    With ``resume`` the run continues from ``out_dir/checkpoint.pt``; its
    stored configuration is used, except that ``config.epochs`` may extend the
    run. With ``recognizer`` (a checkpoint of the speech recogniser) the run
    ends by generating ``words_per_digit`` words per digit and reporting the
    fraction the recogniser hears as the requested digit."""
    if config.train_size < 1 or config.val_size < 1:
        raise ValueError(f"speech: the training and validation sizes must be at least 1, "
                         f"got {config.train_size} and {config.val_size}")
    if not -1.0 < config.pre_emphasis < 1.0:  # checked now: de-emphasis at the end of the run needs it
        raise ValueError(f"speech: pre_emphasis must be in (-1, 1), got {config.pre_emphasis}")
    listener = None
    if recognizer:  # loaded first: a wrong checkpoint fails now, not after the training
        from pyengine.apps.recognizer import load_recognizer

        listener = load_recognizer(recognizer)
    config, checkpoint_path, state = start_run(config, out_dir, resume, threads)
    pyengine.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    with Progress(config.train_size + config.val_size, "synthesising", unit="utt", stream=stream) as progress:
        train_data = load_utterances(config.train_size, TRAIN_DATA_SEED, config,
                                     lambda n: progress.update(n - progress.count))
        val_data = load_utterances(config.val_size, VAL_DATA_SEED, config)
        progress.update(progress.total - progress.count)
    model = build_model(config)
    optimiser = pyengine.optim.Adam(model.parameters(), lr=config.lr)
    history = resume_from(state, checkpoint_path, model, optimiser, rng, log)

    baselines = {"histogram_bits_per_sample": histogram_bits(np.concatenate(train_data.codes),
                                                             np.concatenate(val_data.codes)),
                 "lpc_bits_per_sample": lpc_bits(train_data.codes, val_data.codes, config.lpc_order)[0]}
    log(f"training on {len(train_data)} spoken digits ({train_data.samples} samples), validating on "
        f"{len(val_data)} ({val_data.samples} samples); baselines: histogram "
        f"{baselines['histogram_bits_per_sample']:.3f}, order-{config.lpc_order} linear predictor "
        f"{baselines['lpc_bits_per_sample']:.3f} bits/sample; {config.model}, {config.epochs} epochs, "
        f"batch {config.batch_size}, {pyengine.get_num_threads()} threads")
    for epoch in range(len(history) + 1, config.epochs + 1):
        batches = length_batches(train_data, config.batch_size, rng)
        with Progress(train_data.samples, f"epoch {epoch}/{config.epochs}", unit="sample", stream=stream) as progress:
            train_bits = train_one_epoch(model, optimiser, train_data, batches, config, progress)
            seconds = progress.elapsed
        val_bits = evaluate(model, val_data, config)
        history.append({"epoch": epoch, "train_bits_per_sample": train_bits, "val_bits_per_sample": val_bits,
                        "seconds": seconds, "samples_per_second": train_data.samples / seconds})
        log(f"epoch {epoch}: train {train_bits:.3f} bits/sample, validation {val_bits:.3f} bits/sample, "
            f"{seconds:.1f} s, {train_data.samples / seconds:.0f} samples/s")
        save_checkpoint(checkpoint_path, model, optimiser, epoch, history, rng, config,
                        lengths=mean_lengths(train_data))
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)

    train_seconds = sum(h["seconds"] for h in history)
    metrics = {
        "val_bits_per_sample": history[-1]["val_bits_per_sample"] if history else evaluate(model, val_data, config),
        **baselines,
        "train_seconds": train_seconds,
        "epochs": len(history),
        "model": config.model,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "train_utterances": len(train_data), "train_samples": train_data.samples,
        "val_utterances": len(val_data), "val_samples": val_data.samples,
        "threads": pyengine.get_num_threads(),
    }
    log(f"validation {metrics['val_bits_per_sample']:.3f} bits/sample after {train_seconds:.1f} s of training; "
        f"histogram {baselines['histogram_bits_per_sample']:.3f}, linear predictor "
        f"{baselines['lpc_bits_per_sample']:.3f} "
        f"({baselines['lpc_bits_per_sample'] - metrics['val_bits_per_sample']:.3f} bits/sample below it)")
    if listener is not None:
        fraction, heard = recognized_fraction(model, config, mean_lengths(train_data), listener,
                                              words_per_digit, seed=config.seed, stream=stream)
        metrics["recognized_fraction"] = fraction
        metrics["recognized"] = heard
        per_digit = ", ".join(f"{d}: {sum(h['heard'] == h['word'] == str(d) for h in heard)}/{words_per_digit}"
                              for d in range(10))
        log(f"the recogniser heard the requested digit in {fraction:.0%} of {len(heard)} generated words ({per_digit})")
    if history:
        plot_curves(history, {"histogram": baselines["histogram_bits_per_sample"],
                              f"order-{config.lpc_order} linear predictor": baselines["lpc_bits_per_sample"]},
                    os.path.join(out_dir, "curves.png"))
    write_json(os.path.join(out_dir, "metrics.json"), metrics)
    log(f"wrote {checkpoint_path}, curves.png and metrics.json in {out_dir}")
    return TrainResult(model, history, metrics)


def recognized_fraction(model, config: Config, lengths: list, recognizer, per_digit: int,
                        seed: int | None = None, stream=None) -> tuple[float, list]:
    """Generates ``per_digit`` words for each digit and lets ``recognizer``
    (from ``pyengine.apps.recognizer.load_recognizer``) transcribe them:
    (fraction heard as the requested digit, [{"word": digit, "heard": transcript}, ...])."""
    words = np.repeat(np.arange(10), per_digit)
    codes = sample_codes(model, config, words, max(lengths), seed=seed, stream=stream,
                         word_lengths=[lengths[w] for w in words])
    # De-emphasis looks only backwards in time: decoding all rows at once and
    # cutting each to its word's length gives the words decoded one by one.
    decoded = waveform_of(np.asarray(codes), config)
    waveforms = [row[:lengths[w]] for row, w in zip(decoded, words)]
    heard = recognizer.transcribe(waveforms, sample_rate=SAMPLE_RATE, beam=8)
    results = [{"word": str(w), "heard": str(h)} for w, h in zip(words, heard)]
    return float(np.mean([r["word"] == r["heard"] for r in results])), results


# ---- generation ---------------------------------------------------------------------------------
def load_generator(checkpoint_path: str) -> tuple[nn.Module, Config, list]:
    """(model, its configuration, mean length in samples of each digit) from a checkpoint written by ``train``."""
    state = pyengine.load(checkpoint_path)
    if not isinstance(state, dict) or not {"model", "config", "lengths"} <= set(state):
        raise ValueError(f"{checkpoint_path}: not a checkpoint written by `pyengine train speech`")
    config = config_from_state(Config, state["config"])
    model = build_model(config)
    model.load_state_dict(state["model"])
    model.eval()
    return model, config, list(state["lengths"])


def plot_waveform(waveform: np.ndarray, title: str, path: str) -> None:
    """The waveform and its log-mel spectrogram (32 ms windows every 10 ms, 40 mel bands)."""
    plt = pyplot()
    seconds = np.arange(len(waveform)) / SAMPLE_RATE
    mel = log_mel_spectrogram(waveform, SAMPLE_RATE)
    fig, axes = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    axes[0].plot(seconds, waveform, linewidth=0.5)
    axes[0].set(ylabel="amplitude", ylim=(-1, 1), title=title)
    axes[1].imshow(mel.T, origin="lower", aspect="auto", cmap="magma",
                   extent=(0, len(waveform) / SAMPLE_RATE, 0, mel.shape[1]), vmin=mel.max() - 12)
    axes[1].set(xlabel="time (s)", ylabel="mel band")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


def generate(checkpoint_path: str, word: str, out: str, temperature: float = 1.0, seed: int | None = None,
             seconds: float | None = None, stream=None) -> tuple[str, str]:
    """Samples ``word`` ("seven" or "7") from a trained generator, writes it as
    a 16-bit WAV to ``out`` and the waveform with its log-mel spectrogram to
    ``<out without .wav>.png``; returns both paths. The length is the mean
    length of the word in the training set unless ``seconds`` is given."""
    digit = parse_word(word)
    if seconds is not None and not seconds > 0:
        raise ValueError(f"generate: seconds must be positive, got {seconds}")
    model, config, lengths = load_generator(checkpoint_path)
    length = int(round(seconds * SAMPLE_RATE)) if seconds is not None else lengths[digit]
    waveform = waveform_of(sample_codes(model, config, [digit], length, temperature, seed, stream)[0], config)
    image = os.path.splitext(out)[0] + ".png"
    write_wav(out, waveform, SAMPLE_RATE)
    plot_waveform(waveform, f'generated "{DIGIT_WORDS[digit]}" (temperature {temperature:g})', image)
    return out, image
