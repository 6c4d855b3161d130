"""Audio building blocks for the speech apps, in plain NumPy: mu-law companding,
16-bit PCM WAV files, band-limited resampling, log-mel spectrograms and a
loader for a folder of spoken-digit recordings.

Waveforms are float arrays in [-1, 1] (float32 unless said otherwise).
"""
from __future__ import annotations

import math
import os
import re
import warnings
import wave
from dataclasses import dataclass, field

import numpy as np

from pyengine.utils.files import atomic_write

MU = 255


# ---- mu-law ---------------------------------------------------------------------------------
def mu_law_encode(x: np.ndarray, mu: int = MU) -> np.ndarray:
    """Waveform in [-1, 1] -> integer codes 0..mu (uint8 for mu=255):
    y = sign(x) ln(1 + mu |x|) / ln(1 + mu), then y in [-1, 1] is quantised
    to mu + 1 evenly spaced levels. Values outside [-1, 1] are clipped."""
    x = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / math.log1p(mu)
    codes = np.rint((y + 1.0) / 2.0 * mu)
    return codes.astype(np.uint8 if mu <= 255 else np.int64)


def mu_law_decode(codes: np.ndarray, mu: int = MU) -> np.ndarray:
    """Codes 0..mu -> waveform: y = 2 code / mu - 1, x = sign(y) ((1 + mu)^|y| - 1) / mu."""
    y = 2.0 * np.asarray(codes, dtype=np.float64) / mu - 1.0
    x = np.sign(y) * np.expm1(np.abs(y) * math.log1p(mu)) / mu
    return x.astype(np.float32)


# ---- pre-emphasis ---------------------------------------------------------------------------
def _signal(op: str, x) -> np.ndarray:
    """x as float64 with a time axis to filter along (its last)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0:
        raise ValueError(f"{op}: the signal needs a time axis (its last), got a scalar of shape ()")
    return x


def _alpha(op: str, alpha) -> float:
    """alpha as a float: one finite real number, inside (-1, 1), where the
    inverse filter is stable (so every pre-emphasised signal can be undone)."""
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: alpha must be a real number, got {type(alpha).__name__}")
    if not -1.0 < float(alpha) < 1.0:
        raise ValueError(f"{op}: alpha must be in (-1, 1) for a stable filter, got {alpha}")
    return float(alpha)


def pre_emphasis(x: np.ndarray, alpha: float) -> np.ndarray:
    """y_t = x_t - alpha x_(t-1) along the last axis (x_(-1) = 0): a first-order
    high-pass that flattens speech's falling spectrum, so noise added to y
    (a sampled waveform's) is shaped like the speech by ``de_emphasis``."""
    alpha = _alpha("pre_emphasis", alpha)
    x = _signal("pre_emphasis", x)
    y = x.copy()
    y[..., 1:] -= alpha * x[..., :-1]
    return y.astype(np.float32)


def de_emphasis(y: np.ndarray, alpha: float) -> np.ndarray:
    """The inverse of ``pre_emphasis``: x_t = y_t + alpha x_(t-1), a one-pole
    low-pass run along the last axis (a loop over time, vectorised over the
    rest); stable only for |alpha| < 1."""
    alpha = _alpha("de_emphasis", alpha)
    y = _signal("de_emphasis", y)
    x = np.empty_like(y)
    previous = np.zeros(y.shape[:-1])
    for t in range(y.shape[-1]):
        previous = y[..., t] + alpha * previous
        x[..., t] = previous
    return x.astype(np.float32)


# ---- WAV files --------------------------------------------------------------------------------
def write_wav(path: str, samples: np.ndarray, sample_rate: int) -> None:
    """Writes a mono waveform in [-1, 1] as 16-bit PCM (values beyond are
    clipped), to a temporary file renamed onto ``path`` when complete."""
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ValueError(f"write_wav: expected a 1-D mono waveform, got shape {samples.shape}")
    pcm = np.rint(np.clip(samples.astype(np.float64), -1.0, 1.0) * 32767).astype("<i2")

    def write(tmp):
        with wave.open(tmp, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(int(sample_rate))
            w.writeframes(pcm.tobytes())
    atomic_write(path, write)


def read_wav(path: str) -> tuple[np.ndarray, int]:
    """(waveform float32 in [-1, 1], sample rate) of a 16-bit PCM WAV file; a
    multi-channel file is mixed down to mono. Raises ValueError naming the file
    when it is not a readable 16-bit PCM WAV."""
    try:
        with wave.open(path, "rb") as w:
            channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            data = w.readframes(frames)
    except (wave.Error, EOFError) as exc:
        reason = str(exc) or ("the file ends early" if isinstance(exc, EOFError) else type(exc).__name__)
        raise ValueError(f"{path}: not a readable WAV file ({reason})") from exc
    if width != 2:
        raise ValueError(f"{path}: expected 16-bit samples, the file has {8 * width}-bit")
    usable = len(data) // (2 * channels) * 2 * channels
    pcm = np.frombuffer(data[:usable], dtype="<i2").reshape(-1, channels)
    return (pcm.astype(np.float32) / np.float32(32768)).mean(axis=1, dtype=np.float32), rate


# ---- resampling ---------------------------------------------------------------------------------
def resample(x: np.ndarray, orig_rate: int, new_rate: int = 8000, zeros: int = 16) -> np.ndarray:
    """Band-limited resampling by windowed-sinc interpolation.

    Output sample n sits at input time t = n * orig_rate / new_rate and is
        y[n] = sum_k x[k] c h(c (t - k)),   h(u) = sinc(u) w(u / zeros),
    with cutoff c = min(1, new_rate / orig_rate) (low-pass below the lower
    Nyquist frequency when downsampling), w a Hann window over |u| < zeros and
    ``zeros`` zero crossings of the sinc kept on each side."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"resample: expected a 1-D waveform, got shape {x.shape}")
    if orig_rate <= 0 or new_rate <= 0:
        raise ValueError(f"resample: sample rates must be positive, got {orig_rate} -> {new_rate}")
    if orig_rate == new_rate or len(x) == 0:
        return x.astype(np.float32)
    g = math.gcd(int(orig_rate), int(new_rate))
    up, down = int(new_rate) // g, int(orig_rate) // g
    cutoff = min(1.0, up / down)
    half = int(math.ceil(zeros / cutoff))  # input taps on each side of t
    n_out = int(math.ceil(len(x) * up / down))
    # The fractional offset of t repeats with period `up`: one filter per phase (polyphase).
    phase = np.arange(up)
    start = (phase * down) // up - half + 1  # first tap of phase p, relative to output block start
    frac = (phase * down) / up - ((phase * down) // up)
    taps = np.arange(2 * half)
    u = (taps[None, :] - half + 1 - frac[:, None]) * cutoff  # (up, 2*half): c (k - t)
    window = np.where(np.abs(u) < zeros, 0.5 + 0.5 * np.cos(np.pi * u / zeros), 0.0)
    filters = cutoff * np.sinc(u) * window
    padded = np.concatenate([np.zeros(half), x, np.zeros(2 * half + down)])
    y = np.empty(n_out)
    for p in range(up):
        n = np.arange(p, n_out, up)
        first = (n // up) * down + start[p] + half  # index into padded
        idx = first[:, None] + taps[None, :]
        y[n] = padded[idx] @ filters[p]
    return y.astype(np.float32)


# ---- log-mel spectrogram ----------------------------------------------------------------------
def hz_to_mel(f):
    """The mel scale (O'Shaughnessy): m = 2595 log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0,
                   f_max: float | None = None) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters: filter m rises from centre
    m-1 to centre m and falls to centre m+1, the n_mels + 2 centres evenly spaced
    on the mel scale between f_min and f_max (default: the Nyquist frequency)."""
    f_max = sample_rate / 2 if f_max is None else f_max
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lower) / (centre - lower)
    falling = (upper - freqs[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def log_mel_spectrogram(x: np.ndarray, sample_rate: int = 8000, n_fft: int = 256, hop: int = 80,
                        n_mels: int = 40, floor: float = 1e-10) -> np.ndarray:
    """(frames, n_mels) log mel energies: frames of n_fft samples every ``hop``
    (zero-padded at the end so every sample is covered), a periodic Hann window,
    the power spectrum |rfft|^2, the mel filterbank, then ln(max(energy, floor))."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"log_mel_spectrogram: expected a 1-D waveform, got shape {x.shape}")
    frames = 1 + max(0, math.ceil((len(x) - n_fft) / hop))
    padded = np.concatenate([x, np.zeros(max(0, (frames - 1) * hop + n_fft - len(x)))])
    index = np.arange(frames)[:, None] * hop + np.arange(n_fft)[None, :]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    power = np.abs(np.fft.rfft(padded[index] * window, axis=1)) ** 2
    mel = power @ mel_filterbank(n_mels, n_fft, sample_rate).T
    return np.log(np.maximum(mel, floor)).astype(np.float32)


# ---- a folder of spoken digits ----------------------------------------------------------------
FSDD_NAME = re.compile(r"^(?P<label>[^_]+)_(?P<speaker>[^_]+)_(?P<index>\d+)\.wav$", re.IGNORECASE)


@dataclass
class Recording:
    path: str
    label: str
    speaker: str
    index: int
    samples: np.ndarray
    sample_rate: int


@dataclass
class WavFolder:
    recordings: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # (path, reason)


def load_wav_folder(folder: str, sample_rate: int | None = 8000) -> WavFolder:
    """Reads every ``<label>_<speaker>_<index>.wav`` of ``folder`` (the Free
    Spoken Digit Dataset layout), resampled to ``sample_rate`` (None keeps each
    file's rate), sorted by label, speaker and index. Files that do not follow the
    naming, cannot be read or hold no samples are skipped with a warning each and
    listed in ``skipped``; only a missing folder is an error."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"load_wav_folder: no folder {folder}")
    result = WavFolder()
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not name.lower().endswith(".wav"):
            continue
        match = FSDD_NAME.match(name)
        try:
            if match is None:
                raise ValueError("the name is not <label>_<speaker>_<index>.wav")
            samples, rate = read_wav(path)
            if len(samples) == 0:
                raise ValueError("the file holds no samples")
        except (ValueError, OSError) as exc:
            reason = str(exc).removeprefix(f"{path}: ")
            warnings.warn(f"load_wav_folder: skipping {path}: {reason}", stacklevel=2)
            result.skipped.append((path, reason))
            continue
        if sample_rate is not None and rate != sample_rate:
            samples, rate = resample(samples, rate, sample_rate), sample_rate
        result.recordings.append(Recording(path, match["label"], match["speaker"], int(match["index"]),
                                           samples, rate))
    result.recordings.sort(key=lambda r: (r.label, r.speaker, r.index))
    return result
