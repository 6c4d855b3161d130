"""The eSpeak NG spoken-digit source: reproducible sets at 8 kHz, cached on disk."""
import numpy as np
import pytest

from pyengine.datasets import speech
from conftest import run_python


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PYENGINE_CACHE", str(tmp_path))
    return tmp_path


def same_set(a, b):
    return a.labels == b.labels and a.voices == b.voices and all(
        x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a.waveforms, b.waveforms))


def test_synthesized_word_is_speech_at_8khz():
    x = speech.synthesize("seven", sample_rate=8000)
    assert x.dtype == np.float32 and x.ndim == 1
    assert 0.2 * 8000 < len(x) < 1.5 * 8000  # a spoken word, silence trimmed
    assert 0.05 < np.abs(x).max() <= 1.0
    slower = speech.synthesize("seven", speed=100)
    assert len(slower) > 1.2 * len(x)


def test_same_seed_gives_the_same_set_bit_for_bit(cache):
    # More than one synthesis process (CHUNK utterances each), all voices drawn.
    count = speech.CHUNK + 30
    a = speech.spoken_digits(count, seed=5, cache=False)
    b = speech.spoken_digits(count, seed=5, cache=False)
    assert len(a) == count and set(a.voices) == set(speech.VOICES)
    assert same_set(a, b)
    c = speech.spoken_digits(24, seed=6, max_digits=3, cache=False)
    assert a.labels[:24] != c.labels
    assert not list(cache.iterdir())  # cache=False writes nothing


def test_set_labels_voices_and_lengths():
    s = speech.spoken_digits(40, seed=1, min_digits=2, max_digits=4, cache=False)
    assert len(s) == 40 and s.sample_rate == 8000
    assert all(l.isdigit() and 2 <= len(l) <= 4 for l in s.labels)
    assert set(s.voices) <= set(speech.VOICES) and len(set(s.voices)) > 5
    for label, x in zip(s.labels, s.waveforms):
        assert 0.2 * len(label) * 8000 < len(x) < 1.2 * len(label) * 8000 + 4000
        assert 0.29 <= np.abs(x).max() <= 0.91  # peak drawn from 0.3..0.9


def test_cache_is_written_once_and_read_back(cache):
    made = []
    a = speech.spoken_digits(12, seed=2, progress=made.append)
    files = list((cache / "speech").iterdir())
    assert len(files) == 1 and made[-1] == 12
    made.clear()
    b = speech.spoken_digits(12, seed=2, progress=made.append)
    assert same_set(a, b) and made == []  # read from the cache, nothing synthesised
    whole = files[0].read_bytes()
    for damaged in (b"damaged", whole[:len(whole) // 2]):  # not a zip file; a zip file cut short
        files[0].write_bytes(damaged)
        assert same_set(speech.spoken_digits(12, seed=2), a)  # made again ...
        assert files[0].read_bytes() == whole  # ... and written again


@pytest.mark.parametrize("kwargs, message", [
    ({"count": -1}, "count must be >= 0"),
    ({"count": 3, "min_digits": 0}, "min_digits"),
    ({"count": 3, "min_digits": 4, "max_digits": 2}, "min_digits <= max_digits"),
])
def test_bad_set_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        speech.spoken_digits(**kwargs)


def test_bad_synthesis_arguments():
    with pytest.raises(ValueError, match="speed must be 80..450"):
        speech.synthesize("one", speed=20)
    with pytest.raises(ValueError, match="synthesize: voice must be one of speech.VOICES.*'klingon'"):
        speech.synthesize("one", voice="klingon")
    with pytest.raises(ValueError, match="pitch must be 0..100"):
        speech.synthesize("one", pitch=101)
    with pytest.raises(ValueError, match="digits_to_words"):
        speech.digits_to_words("12a")
    assert speech.digits_to_words("305") == "three zero five"


def test_a_script_without_a_main_guard_can_make_a_set(tmp_path, cache):
    # The synthesis workers are fresh interpreters that never import the caller's script.
    script = tmp_path / "make_set.py"
    script.write_text("from pyengine.datasets import spoken_digits\n"
                      "s = spoken_digits(260, seed=3, cache=False)\n"
                      "print(len(s), len(set(s.labels)))\n")
    run = run_python([str(script)], timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["260", "10"]


def test_a_voice_subset(cache):
    s = speech.spoken_digits(12, seed=4, voices=["en-us+m3"], cache=False)
    assert set(s.voices) == {"en-us+m3"}
    with pytest.raises(ValueError, match="voices must be a non-empty subset"):
        speech.spoken_digits(3, voices=["klingon"])
    with pytest.raises(ValueError, match="voices must be a non-empty subset"):
        speech.spoken_digits(3, voices=[])
