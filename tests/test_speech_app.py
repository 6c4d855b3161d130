"""The speech generator app: the two baselines, the models' causality and
their step-by-step samplers, a short training run, resuming, generation, the
recogniser check and the CLI commands."""
import io
import json
import sys
import types
from dataclasses import dataclass

import numpy as np
import pytest

import pyengine
from pyengine.apps import speech
from pyengine.cli import main
from pyengine.datasets.audio import mu_law_encode, pre_emphasis, read_wav


@dataclass
class TinyConfig(speech.Config):
    """Small models and sets: a run takes seconds."""
    model: str = "gru"
    epochs: int = 3
    batch_size: int = 4
    lr: float = 1e-2
    train_size: int = 32
    val_size: int = 6
    channels: int = 16
    skip_channels: int = 16
    layers: int = 5
    hidden: int = 32
    embedding: int = 16
    condition: int = 8


QUIET = dict(log=lambda *a: None, stream=io.StringIO())
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYENGINE_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def quick_run(cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("speech")
    return out, speech.train(TinyConfig(), str(out), threads=1, **QUIET)


# ---- baselines ----------------------------------------------------------------------------------
def test_histogram_bits_is_the_smoothed_cross_entropy():
    # add-one counts of codes 0..3 from [0, 0, 1, 2]: 3, 2, 2, 1 out of 8
    bits = speech.histogram_bits(np.array([0, 0, 1, 2]), np.array([0, 3]), bins=4)
    assert bits == pytest.approx(-(np.log2(3 / 8) + np.log2(1 / 8)) / 2)
    rng = np.random.default_rng(0)  # a uniform distribution over 16 codes: 4 bits
    assert speech.histogram_bits(rng.integers(0, 16, 200_000), rng.integers(0, 16, 50_000), 16) == \
        pytest.approx(4.0, abs=0.01)


def test_lpc_coefficients_are_the_least_squares_fit_of_the_zero_padded_signals():
    rng = np.random.default_rng(1)
    signals = [np.convolve(rng.standard_normal(n), [1.0, 0.7, 0.2])[:n] for n in (57, 301, 13)]
    order = 5
    rows, targets = [], []
    for x in signals:  # every sample of the signal and of its tail after the end, zeros outside
        padded = np.concatenate([np.zeros(order), x, np.zeros(order)])
        for t in range(order, len(padded)):
            rows.append(padded[t - order:t][::-1])
            targets.append(padded[t])
    reference = np.linalg.lstsq(np.array(rows), np.array(targets), rcond=None)[0]
    np.testing.assert_allclose(speech.fit_lpc(signals, order), reference, rtol=1e-9, atol=1e-12)
    a = speech.fit_lpc(signals, order)
    np.testing.assert_allclose(speech.lpc_predict(signals[0], a)[order:],
                               [a @ signals[0][t - order:t][::-1] for t in range(order, len(signals[0]))])


def ar2(n, seed, a=(1.3, -0.6), sigma=0.02):
    e = np.random.default_rng(seed).standard_normal(n) * sigma
    x = np.zeros(n)
    for t in range(n):
        x[t] = e[t] + a[0] * (x[t - 1] if t >= 1 else 0.0) + a[1] * (x[t - 2] if t >= 2 else 0.0)
    return x


def test_lpc_recovers_an_ar2_process_and_its_innovation_entropy():
    train = [mu_law_encode(ar2(40_000, seed)) for seed in (1, 2)]
    val = [mu_law_encode(ar2(40_000, 3))]
    bits, a = speech.lpc_bits(train, val, order=16)
    np.testing.assert_allclose(a[:2], [1.3, -0.6], atol=0.02)
    assert np.abs(a[2:]).max() < 0.02
    # the entropy of the code residual that the true coefficients leave on the validation signal
    residual, _ = speech.lpc_residual_codes(val[0], np.array([1.3, -0.6]))
    p = np.bincount(residual - residual.min()) / len(residual)
    innovation = -(p[p > 0] * np.log2(p[p > 0])).sum()
    assert bits == pytest.approx(innovation, abs=0.05)
    assert bits < speech.histogram_bits(np.concatenate(train), val[0]) - 0.5


def test_lpc_bits_is_a_normalised_distribution_over_the_codes():
    # a predictor that always says "silence" leaves residuals code - 128: the
    # histogram of the residuals is the histogram of the codes shifted
    codes = [np.random.default_rng(4).integers(0, 256, 5000).astype(np.uint8)]
    bits, a = speech.lpc_bits(codes, codes, order=0)
    assert len(a) == 0
    assert bits == pytest.approx(speech.histogram_bits(codes[0], codes[0]), abs=1e-9)


# ---- the models ---------------------------------------------------------------------------------
def random_batch(config, seed=0, batch=2, length=300):
    rng = np.random.default_rng(seed)
    data = speech.Utterances([rng.integers(0, 256, length - 7 * i).astype(np.uint8) for i in range(batch)],
                             rng.integers(0, 10, batch))
    return data, speech.make_batch(data, np.arange(batch), config)


def logits(model, inputs, conditions):
    with pyengine.no_grad():
        return model(pyengine.from_numpy(inputs), pyengine.from_numpy(conditions)).numpy()


@pytest.mark.parametrize("kind", ["wavenet", "gru"])
def test_the_prediction_of_a_sample_never_sees_it_or_later_ones(kind):
    config = TinyConfig(model=kind, frames=5)
    pyengine.manual_seed(0)
    model = speech.build_model(config)
    data, (inputs, conditions, targets) = random_batch(config)
    for row, codes in enumerate(data.codes):  # inputs: the codes one step late, silence first
        np.testing.assert_array_equal(inputs[row, :len(codes)], np.concatenate([[speech.SILENCE], codes[:-1]]))
        np.testing.assert_array_equal(targets[row, :len(codes)], codes)
        assert (targets[row, len(codes):] == -100).all()
    before = logits(model, inputs, conditions)
    for t in (0, 37, 150):  # change code t: the logits up to t (which predict codes <= t) stay
        changed = data.codes[0].copy()
        changed[t] = (int(changed[t]) + 101) % 256
        inputs2, _, _ = speech.make_batch(speech.Utterances([changed, data.codes[1]], data.words), np.arange(2), config)
        after = logits(model, inputs2, conditions)
        np.testing.assert_array_equal(after[0, :t + 1], before[0, :t + 1])
        assert np.abs(after[0, t + 1] - before[0, t + 1]).max() > 1e-4
        np.testing.assert_array_equal(after[1], before[1])


@pytest.mark.parametrize("kind", ["wavenet", "gru"])
def test_the_step_sampler_gives_the_logits_of_the_whole_sequence(kind):
    config = TinyConfig(model=kind, frames=5)
    pyengine.manual_seed(1)
    model = speech.build_model(config)
    data, (inputs, conditions, targets) = random_batch(config, seed=2, length=200)
    full = logits(model, inputs, conditions)
    sampler = model.sampler(data.words, [len(c) for c in data.codes], config)
    steps = np.stack([sampler.step(inputs[:, t]) for t in range(inputs.shape[1])], axis=1)
    np.testing.assert_allclose(steps, full, rtol=1e-4, atol=1e-4)


def test_unknown_model_and_word_are_refused():
    with pytest.raises(ValueError, match="unknown model 'lstm'"):
        speech.build_model(TinyConfig(model="lstm"))
    assert speech.parse_word("Seven") == speech.parse_word("7") == 7
    with pytest.raises(ValueError, match="unknown word 'eleven'"):
        speech.parse_word("eleven")


def test_an_unstable_pre_emphasis_is_refused_before_training(tmp_path):
    with pytest.raises(ValueError, match=r"speech: pre_emphasis must be in \(-1, 1\), got 1.0"):
        speech.train(TinyConfig(pre_emphasis=1.0), str(tmp_path), log=lambda *a: None)
    assert not any(tmp_path.iterdir())  # nothing was written


# ---- training and generation --------------------------------------------------------------------
def test_short_training_beats_the_histogram_baseline(quick_run):
    out, result = quick_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val_bits_per_sample"] == pytest.approx(result.history[-1]["val_bits_per_sample"])
    assert metrics["val_bits_per_sample"] < metrics["histogram_bits_per_sample"] - 0.5
    assert metrics["lpc_bits_per_sample"] < metrics["histogram_bits_per_sample"]
    assert metrics["epochs"] == 3 and metrics["train_seconds"] > 0
    assert (out / "curves.png").read_bytes().startswith(PNG)


def test_evaluate_is_the_mean_negative_log2_likelihood(quick_run, cache):
    _, result = quick_run
    config = TinyConfig()
    data = speech.load_utterances(3, speech.VAL_DATA_SEED, config)
    total = 0.0
    for i in range(3):
        inputs, conditions, targets = speech.make_batch(data, np.array([i]), config)
        z = logits(result.model, inputs, conditions)[0].astype(np.float64)
        log_p = z - z.max(axis=1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
        total -= log_p[np.arange(len(targets[0])), targets[0]].sum() / np.log(2)
    assert speech.evaluate(result.model, data, config) == pytest.approx(total / data.samples, rel=1e-4)


def test_resume_after_an_interruption_continues_exactly(quick_run, tmp_path):
    out, result = quick_run

    def stop_after_first(epoch, history):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        speech.train(TinyConfig(), str(tmp_path), threads=1, on_epoch_end=stop_after_first, **QUIET)
    resumed = speech.train(TinyConfig(), str(tmp_path), resume=True, threads=1, **QUIET)
    assert [h["val_bits_per_sample"] for h in resumed.history] == \
        [h["val_bits_per_sample"] for h in result.history]


def test_drawn_codes_become_audio_through_mu_law_and_de_emphasis():
    x = 0.4 * np.sin(2 * np.pi * 300 * np.arange(2000) / 8000)
    codes = mu_law_encode(pre_emphasis(x, 0.9))
    np.testing.assert_allclose(speech.waveform_of(codes, TinyConfig()), x, atol=0.01)
    assert np.abs(speech.waveform_of(codes, TinyConfig(pre_emphasis=0.0)) - x).max() > 0.1


def test_generate_writes_the_de_emphasised_draw(quick_run, tmp_path, monkeypatch):
    out, _ = quick_run
    codes = np.random.default_rng(3).integers(100, 156, (1, 400))
    monkeypatch.setattr(speech, "sample_codes", lambda *args, **kwargs: codes)
    wav, _ = speech.generate(str(out / "checkpoint.pt"), "4", str(tmp_path / "four.wav"))
    np.testing.assert_allclose(read_wav(wav)[0], speech.waveform_of(codes[0], TinyConfig()), atol=1.5 / 32768)


def test_a_checkpoint_from_before_pre_emphasis_is_read_as_plain_codes(quick_run, tmp_path):
    out, _ = quick_run
    state = pyengine.load(str(out / "checkpoint.pt"))
    del state["config"]["pre_emphasis"]
    old = tmp_path / "old"
    old.mkdir()
    pyengine.save(state, str(old / "checkpoint.pt"))
    assert speech.load_generator(str(old / "checkpoint.pt"))[1].pre_emphasis == 0.0
    resumed = speech.train(TinyConfig(epochs=4), str(old), resume=True, threads=1, **QUIET)
    assert json.loads((old / "metrics.json").read_text())["epochs"] == 4
    assert pyengine.load(str(old / "checkpoint.pt"))["config"]["pre_emphasis"] == 0.0 and resumed.history


def test_generate_writes_a_wav_and_a_spectrogram(quick_run, tmp_path):
    out, _ = quick_run
    wav, image = speech.generate(str(out / "checkpoint.pt"), "seven", str(tmp_path / "seven.wav"), seed=3,
                                 stream=io.StringIO())
    samples, rate = read_wav(wav)
    _, _, lengths = speech.load_generator(str(out / "checkpoint.pt"))
    assert rate == 8000 and len(samples) == lengths[7] and np.abs(samples).max() > 0
    assert image == str(tmp_path / "seven.png") and (tmp_path / "seven.png").read_bytes().startswith(PNG)
    again, _ = speech.generate(str(out / "checkpoint.pt"), "7", str(tmp_path / "again.wav"), seed=3,
                               stream=io.StringIO())
    np.testing.assert_array_equal(read_wav(again)[0], samples)  # same seed, same word
    short, _ = speech.generate(str(out / "checkpoint.pt"), "7", str(tmp_path / "short.wav"), seed=3,
                               seconds=0.1, stream=io.StringIO())
    assert len(read_wav(short)[0]) == 800
    with pytest.raises(ValueError, match="temperature must be positive"):
        speech.generate(str(out / "checkpoint.pt"), "7", str(tmp_path / "x.wav"), temperature=0)


def test_low_temperature_sampling_follows_the_most_likely_code(quick_run):
    _, result = quick_run
    config = TinyConfig()
    codes = speech.sample_codes(result.model, config, [3], 50, temperature=1e-4, seed=0, stream=io.StringIO())
    inputs, conditions, _ = speech.make_batch(speech.Utterances([codes[0].astype(np.uint8)], np.array([3])),
                                              np.array([0]), config)
    np.testing.assert_array_equal(codes[0], logits(result.model, inputs, conditions)[0].argmax(axis=1))


def fake_recognizer_module(calls):
    """A stand-in for pyengine.apps.recognizer: hears "7" in everything."""
    class Recognizer:
        def transcribe(self, waveforms, sample_rate, beam):
            calls.append((waveforms, sample_rate, beam))
            return ["7"] * len(waveforms)
    return types.SimpleNamespace(load_recognizer=lambda path: calls.append(path) or Recognizer())


def test_recognizer_check_reports_the_fraction_heard_right(quick_run, monkeypatch):
    _, result = quick_run
    calls = []
    monkeypatch.setitem(sys.modules, "pyengine.apps.recognizer", fake_recognizer_module(calls))
    lengths = [300 + 10 * d for d in range(10)]
    recognizer = sys.modules["pyengine.apps.recognizer"].load_recognizer("rec.pt")
    fraction, heard = speech.recognized_fraction(result.model, TinyConfig(), lengths, recognizer, 2, seed=0,
                                                 stream=io.StringIO())
    assert calls[0] == "rec.pt"
    waveforms, rate, beam = calls[1]
    assert rate == 8000 and len(waveforms) == 20 and [len(w) for w in waveforms] == list(np.repeat(lengths, 2))
    assert all(w.dtype == np.float32 and np.abs(w).max() <= 1 for w in waveforms)
    assert fraction == pytest.approx(0.1) and heard[14] == {"word": "7", "heard": "7"}


# ---- the CLI ------------------------------------------------------------------------------------
def test_cli_trains_checks_resumes_and_generates(cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(speech, "Config", TinyConfig)
    calls = []
    monkeypatch.setitem(sys.modules, "pyengine.apps.recognizer", fake_recognizer_module(calls))
    (tmp_path / "rec.pt").write_bytes(b"")
    out = tmp_path / "run"
    assert main(["train", "speech", "--epochs", "1", "--train-size", "12", "--out", str(out), "--threads", "1",
                 "--recognizer", str(tmp_path / "rec.pt"), "--words-per-digit", "1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["train_utterances"] == 12 and metrics["recognized_fraction"] == 0.1
    assert main(["train", "speech", "--epochs", "2", "--out", str(out), "--resume", "--threads", "1",
                 "--recognizer", str(tmp_path / "rec.pt"), "--words-per-digit", "1"]) == 0
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 2
    assert main(["generate", "speech", "--word", "seven", "--checkpoint", str(out / "checkpoint.pt"),
                 "--out", str(tmp_path / "seven.wav"), "--seed", "1", "--seconds", "0.05"]) == 0
    assert read_wav(str(tmp_path / "seven.wav"))[1] == 8000 and (tmp_path / "seven.png").is_file()
    assert "validation" in capsys.readouterr().out


def test_cli_errors_are_clear(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "speech", "--word", "eleven", "--out", str(tmp_path / "x.wav")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "unknown word 'eleven'" in err and "Traceback" not in err
    assert main(["generate", "speech", "--word", "7", "--checkpoint", str(tmp_path / "none.pt")]) == 1
    assert "pyengine generate speech: error:" in capsys.readouterr().err
    assert main(["train", "speech", "--recognizer", str(tmp_path / "none.pt"), "--out", str(tmp_path)]) == 1
    assert "no checkpoint at" in capsys.readouterr().err
    assert main(["train", "speech", "--resume", "--out", str(tmp_path / "empty")]) == 1
    assert "no checkpoint at" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["train", "speech", "--train-size", "0", "--out", str(tmp_path / "zero")])
    assert exit_.value.code == 2
    assert "argument --train-size: must be a positive integer, got 0" in capsys.readouterr().err


def test_conditioning_steps_are_relative_to_the_word_length():
    config = TinyConfig(frames=4)
    ids = speech.condition_ids([2, 3], [0, 50, 99, 150, 250], [100, 200], config)
    np.testing.assert_array_equal(ids, [[8, 10, 11, 11, 11], [12, 13, 13, 15, 15]])
