"""Spoken digits without a download: eSpeak NG synthesises them.

The speech library is found, in order, in the ``espeakng-loader`` package from
PyPI (it bundles ``libespeak-ng`` and its voices; part of the ``apps`` extra)
or as the system's ``libespeak-ng`` (``apt-get install espeak-ng``). It is
called through ctypes in its synchronous mode: ``espeak_Synth`` returns when
the utterance is complete, after handing every block of 16-bit samples to a
callback.

Every utterance varies the things that differ between speakers — the voice
(British or American English, male and female variants), speaking rate, pitch,
pitch range, the gap between words and the loudness — drawn from a seeded
generator, so a set is the same for the same seed. Sets are cached on disk as
one ``.npz`` file each (``$PYENGINE_CACHE``, default ``~/.cache/pyengine``).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from pyengine.datasets.audio import resample
from pyengine.utils.files import atomic_write

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
BASE_VOICES = ("en", "en-us")
# f2, f3 and f5 add breath noise that eSpeak NG draws differently from run to run.
VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f4")
VOICES = tuple(base + (f"+{variant}" if variant else "") for base in BASE_VOICES for variant in VARIANTS)
CACHE_FORMAT = 1
CHUNK = 250  # utterances per synthesis process

# espeak_lib.h constants.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_RATE, _VOLUME, _PITCH, _RANGE, _WORDGAP = 1, 2, 3, 4, 7
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class SpeechSynthesisError(RuntimeError):
    """Speech could not be synthesised."""


class SpeechSynthesisUnavailable(SpeechSynthesisError):
    """No eSpeak NG library could be loaded."""


class _Espeak:
    """The process's one eSpeak NG engine: the library keeps global state, so
    every call goes through one lock."""

    def __init__(self):
        lib, data_path = _find_library()
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                     None if data_path is None else data_path.encode(), 0)
        if rate <= 0:
            raise SpeechSynthesisUnavailable(f"eSpeak NG failed to initialise (data path {data_path})")
        self.lib, self.sample_rate = lib, rate
        self.version = lib.espeak_Info(None).decode()
        self._blocks: list[np.ndarray] = []
        self._callback = _SYNTH_CALLBACK(self._receive)  # kept alive: the library holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        self.lock = threading.Lock()

    def _receive(self, wav, count, _events):
        if count > 0:
            self._blocks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def speak(self, text: str, voice: str, speed: int, pitch: int, pitch_range: int, word_gap: int) -> np.ndarray:
        with self.lock:
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise SpeechSynthesisError(f"synthesize: eSpeak NG could not load the voice {voice!r}")
            for parameter, value in ((_RATE, speed), (_PITCH, pitch), (_RANGE, pitch_range), (_WORDGAP, word_gap),
                                     (_VOLUME, 100)):
                self.lib.espeak_SetParameter(parameter, int(value), 0)
            self._blocks = []
            encoded = text.encode()
            status = self.lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, 0, None, None)
            self.lib.espeak_Synchronize()
            if status != 0:
                raise RuntimeError(f"synthesize: eSpeak NG returned error {status} for {text!r}")
            pcm = np.concatenate(self._blocks) if self._blocks else np.zeros(0, np.int16)
        return pcm.astype(np.float32) / np.float32(32768)


def _find_library():
    """(ctypes library, data path or None for the library's default)."""
    try:
        import espeakng_loader
    except ImportError:
        espeakng_loader = None
    if espeakng_loader is not None:
        return ctypes.CDLL(espeakng_loader.get_library_path()), espeakng_loader.get_data_path()
    name = ctypes.util.find_library("espeak-ng")
    if name is None:
        raise SpeechSynthesisUnavailable(
            'speech synthesis needs eSpeak NG: pip install ".[apps]" (bundles it as espeakng-loader) '
            "or apt-get install espeak-ng")
    return ctypes.CDLL(name), None


_engine: _Espeak | None = None
_engine_lock = threading.Lock()


def engine() -> _Espeak:
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = _Espeak()
        return _engine


def available() -> bool:
    """Whether eSpeak NG can be loaded here."""
    try:
        engine()
    except (SpeechSynthesisUnavailable, OSError):
        return False
    return True


def trim_silence(x: np.ndarray, threshold: float = 0.01, margin: int = 160) -> np.ndarray:
    """Cuts leading and trailing samples quieter than ``threshold`` of the peak,
    keeping ``margin`` samples of the quiet on each side."""
    loud = np.flatnonzero(np.abs(x) > threshold * max(float(np.abs(x).max(initial=0.0)), 1e-12))
    if len(loud) == 0:
        return x[:0]
    return x[max(0, loud[0] - margin):loud[-1] + 1 + margin]


def synthesize(text: str, voice: str = "en-us", speed: int = 175, pitch: int = 50, pitch_range: int = 50,
               word_gap: int = 0, sample_rate: int = 8000) -> np.ndarray:
    """``text`` spoken by eSpeak NG in ``voice`` (one of ``VOICES``): a float32
    waveform at ``sample_rate``, silence trimmed. eSpeak NG keeps state between
    utterances, so the same call can differ in a few samples from one call to
    the next; ``spoken_digits`` is reproducible. ``speed`` is in words per
    minute (80..450), ``pitch`` and ``pitch_range`` are 0..100, ``word_gap`` is
    extra pause between words in units of 10 ms."""
    # eSpeak NG accepts any voice name and falls back to a default one silently.
    if voice not in VOICES:
        raise ValueError(f"synthesize: voice must be one of speech.VOICES (e.g. 'en-us+m3'), got {voice!r}")
    if not 80 <= speed <= 450:
        raise ValueError(f"synthesize: speed must be 80..450 words per minute, got {speed}")
    for name, value in (("pitch", pitch), ("pitch_range", pitch_range)):
        if not 0 <= value <= 100:
            raise ValueError(f"synthesize: {name} must be 0..100, got {value}")
    e = engine()
    x = e.speak(text, voice, speed, pitch, pitch_range, word_gap)
    return trim_silence(resample(x, e.sample_rate, sample_rate))


def digits_to_words(digits: str) -> str:
    """"314" -> "three one four"."""
    if not digits or not digits.isdigit() or not digits.isascii():
        raise ValueError(f"digits_to_words: expected a non-empty string of digits 0-9, got {digits!r}")
    return " ".join(DIGIT_WORDS[int(d)] for d in digits)


@dataclass
class SpokenDigits:
    """``count`` utterances: ``waveforms[i]`` (float32 at ``sample_rate``) says
    the digit string ``labels[i]`` ("7", "3104") in ``voices[i]``."""
    waveforms: list
    labels: list
    voices: list
    sample_rate: int

    def __len__(self) -> int:
        return len(self.labels)


def cache_dir() -> str:
    return os.environ.get("PYENGINE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "pyengine")


def spoken_digits(count: int, *, seed: int = 0, min_digits: int = 1, max_digits: int = 1, sample_rate: int = 8000,
                  voices=VOICES, cache: bool = True, progress=None) -> SpokenDigits:
    """``count`` synthesised digit strings of ``min_digits``..``max_digits``
    digits, each in a voice (one of ``voices``), rate, pitch, pitch range, word
    gap and loudness drawn from ``seed``; the same arguments give the same set,
    bit for bit. With ``cache`` the set is kept in (and read back from) a file
    under ``cache_dir()``; ``progress``, if given, is called with the number of
    utterances made so far."""
    if count < 0:
        raise ValueError(f"spoken_digits: count must be >= 0, got {count}")
    if not 1 <= min_digits <= max_digits:
        raise ValueError(f"spoken_digits: need 1 <= min_digits <= max_digits, got {min_digits}, {max_digits}")
    e = engine()
    voices = tuple(voices)
    unknown = [v for v in voices if v not in VOICES]
    if not voices or unknown:
        raise ValueError(f"spoken_digits: voices must be a non-empty subset of speech.VOICES, got {unknown or voices}")
    key = repr((CACHE_FORMAT, e.version, count, seed, min_digits, max_digits, sample_rate, voices))
    path = os.path.join(cache_dir(), "speech", f"digits-{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz")
    if cache and os.path.isfile(path):
        try:
            return _read_set(path, sample_rate)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # a damaged cache file is made again
    chunks = [(seed, i, min(CHUNK, count - start), min_digits, max_digits, sample_rate, voices)
              for i, start in enumerate(range(0, count, CHUNK))]
    result = SpokenDigits([], [], [], sample_rate)
    # A fresh process per chunk: eSpeak NG carries state from one utterance to the
    # next (its pitch flutter runs on), so an utterance is only reproducible as
    # part of the same sequence of calls from a freshly loaded library. The
    # workers are new interpreters that import only pyengine, never the caller's
    # script (as multiprocessing's spawn would, without a __main__ guard).
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(min(len(chunks), os.cpu_count() or 1) or 1) as pool:
        parts = [pool.submit(_synthesize_in_worker, chunk, os.path.join(tmp, f"{i}.npz"))
                 for i, chunk in enumerate(chunks)]
        try:
            for part in parts:
                chunk = part.result()
                result.waveforms += chunk.waveforms
                result.labels += chunk.labels
                result.voices += chunk.voices
                if progress is not None:
                    progress(len(result))
        except BaseException:  # a failed chunk or Ctrl-C: start no further workers
            pool.shutdown(cancel_futures=True)
            raise
    if cache:
        _write_set(path, result)
    return result


def _synthesize_in_worker(chunk: tuple, out: str) -> SpokenDigits:
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # Started in the folder that holds this pyengine: `python -c` looks in its
    # working folder first, where a source checkout would shadow the installed package.
    run = subprocess.run([sys.executable, "-c", "import sys; from pyengine.datasets.speech import _worker_main; "
                          "_worker_main(sys.argv[1], sys.argv[2])", json.dumps(chunk), out],
                         cwd=package_root, capture_output=True, text=True)
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
        raise SpeechSynthesisError(f"spoken_digits: the synthesis process failed: {last}")
    return _read_set(out, chunk[5])


def _worker_main(chunk_json: str, out: str) -> None:
    seed, index, count, min_digits, max_digits, sample_rate, voices = json.loads(chunk_json)
    _write_set(out, _synthesize_chunk(seed, index, count, min_digits, max_digits, sample_rate, tuple(voices)))


def _synthesize_chunk(seed, index, count, min_digits, max_digits, sample_rate, voices) -> SpokenDigits:
    rng = np.random.default_rng([seed, index])
    chunk = SpokenDigits([], [], [], sample_rate)
    for _ in range(count):
        digits = "".join(str(d) for d in rng.integers(0, 10, size=int(rng.integers(min_digits, max_digits + 1))))
        voice = voices[int(rng.integers(len(voices)))]
        x = synthesize(digits_to_words(digits), voice, speed=int(rng.integers(130, 231)),
                       pitch=int(rng.integers(25, 76)), pitch_range=int(rng.integers(20, 81)),
                       word_gap=int(rng.integers(0, 3)), sample_rate=sample_rate)
        peak = float(np.abs(x).max(initial=0.0))
        chunk.waveforms.append((x * (rng.uniform(0.3, 0.9) / peak if peak > 0 else 1.0)).astype(np.float32))
        chunk.labels.append(digits)
        chunk.voices.append(voice)
    return chunk


def _write_set(path: str, s: SpokenDigits) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    lengths = np.array([len(w) for w in s.waveforms], dtype=np.int64)
    samples = np.concatenate(s.waveforms) if s.waveforms else np.zeros(0, np.float32)

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, samples=samples, lengths=lengths, labels=np.array(s.labels, dtype=str),
                     voices=np.array(s.voices, dtype=str))
    atomic_write(path, write)


def _read_set(path: str, sample_rate: int) -> SpokenDigits:
    with np.load(path, allow_pickle=False) as f:
        samples, lengths, labels, voices = f["samples"], f["lengths"], f["labels"], f["voices"]
    if len(lengths) != len(labels) or lengths.sum() != len(samples):
        raise ValueError(f"{path}: inconsistent cache file")
    waveforms = np.split(samples, np.cumsum(lengths)[:-1]) if len(lengths) else []
    return SpokenDigits(list(waveforms), [str(x) for x in labels], [str(x) for x in voices], sample_rate)
