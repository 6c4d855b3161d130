"""The spoken digit-string recogniser: features, CTC decoding (greedy and beam
search) on hand-made probability tables, the character error rate, a short
training run, resuming, the public transcribe API and the CLI commands."""
import functools
import io
import itertools
import json
import math

import numpy as np
import pytest

import pyengine
from pyengine.apps import recognizer as rec
from pyengine.cli import main
from pyengine.datasets import speech, write_wav

# Small enough to train in seconds, large enough to beat the all-blank baseline (CER 1) by far.
QUICK = dict(epochs=5, batch_size=16, lr=1e-2, train_size=240, test_size=40, hidden=32, max_digits=3, seed=3)
QUIET = dict(log=lambda *a: None, stream=io.StringIO())


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    """One speech cache for the module: each set is synthesised once."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("cache")
        mp.setenv("PYENGINE_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("recognizer")
    return out, rec.train(rec.Config(**QUICK), str(out), threads=1, **QUIET)


def table(*rows):
    """Log-probabilities of a hand-made table of per-step probabilities."""
    p = np.array(rows, dtype=np.float64)
    return np.log(p / p.sum(axis=1, keepdims=True))


def best_labelling(log_probs):
    """The exact most probable labelling: every path enumerated, collapsed, summed."""
    totals = {}
    for path in itertools.product(range(log_probs.shape[1]), repeat=len(log_probs)):
        labels = tuple(rec.greedy_decode(np.eye(log_probs.shape[1])[list(path)]))
        totals[labels] = totals.get(labels, 0.0) + math.exp(sum(log_probs[t, c] for t, c in enumerate(path)))
    return list(max(totals, key=totals.get))


# ---- decoding -------------------------------------------------------------------------------
def test_greedy_merges_repeats_and_drops_blanks():
    lp = table([.1, .8, .1], [.1, .8, .1], [.9, .05, .05], [.1, .8, .1], [.1, .1, .8], [.7, .2, .1])
    assert rec.greedy_decode(lp) == [1, 1, 2]  # the blank between the two 1s keeps both
    assert rec.greedy_decode(np.zeros((0, 3))) == []


def test_beam_search_sums_alignments_where_greedy_takes_one_path():
    # Best path: blank, blank ("" with p = .36); but "a" has .4*.4 + .4*.6 + .6*.4 = .64.
    lp = table([.6, .4], [.6, .4])
    assert rec.greedy_decode(lp) == []
    assert rec.beam_search_decode(lp, beam=2) == [1]


def test_beam_search_keeps_a_repeated_label_only_across_a_blank():
    lp = table([.1, .9], [.1, .9], [.1, .9])
    assert rec.beam_search_decode(lp, beam=4) == [1]
    lp = table([.05, .95], [.9, .1], [.05, .95])
    assert rec.beam_search_decode(lp, beam=4) == [1, 1]


@pytest.mark.parametrize("seed", range(6))
def test_wide_beam_search_finds_the_most_probable_labelling(seed):
    rng = np.random.default_rng(seed)
    lp = table(*rng.dirichlet(np.full(3, 0.7), size=5))
    assert rec.beam_search_decode(lp, beam=64) == best_labelling(lp)


def test_decode_gives_digits_and_beam_one_is_greedy():
    lp = table([.1, .1, .8] + [.01] * 8, [.9, .1, .01] + [.01] * 8, [.1, .8, .1] + [.01] * 8)
    assert rec.decode(lp) == rec.decode(lp, 1) == rec.decode(lp, 8) == "10"
    with pytest.raises(ValueError, match="beam must be >= 1"):
        rec.beam_search_decode(lp, beam=0)


# ---- scoring and features ---------------------------------------------------------------------
def test_edit_distance_and_character_error_rate():
    assert rec.edit_distance("314", "314") == 0
    assert rec.edit_distance("314", "324") == 1  # substitution
    assert rec.edit_distance("314", "3144") == 1  # insertion
    assert rec.edit_distance("314", "") == 3  # deletions
    assert rec.edit_distance("12345", "2345") == 1
    assert rec.character_error_rate(["314", "7"], ["31", "77"]) == pytest.approx(2 / 4)
    assert rec.character_error_rate(["12", "34"], ["", ""]) == 1.0
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        rec.character_error_rate(["1", "2"], ["1"])


def test_labels_encode_digits_after_the_blank():
    np.testing.assert_array_equal(rec.encode_label("3104"), [4, 2, 1, 5])
    assert rec.decode_classes(rec.encode_label("3104")) == "3104"
    with pytest.raises(ValueError, match="string of digits"):
        rec.encode_label("3a")


def test_features_are_stacked_normalised_log_mels():
    config = rec.Config(stack=3, n_mels=40)
    t = np.arange(8000) / 8000
    x = (0.5 * np.sin(2 * np.pi * 440 * t) * (t > 0.3)).astype(np.float32)
    f = rec.features(x, config)
    frames = 1 + math.ceil((8000 - 256) / 80)
    assert f.dtype == np.float32 and f.shape == (math.ceil(frames / 3), 120)
    per_band = f.reshape(-1, 40)[:frames]
    np.testing.assert_allclose(per_band.mean(axis=0), 0, atol=0.05)
    np.testing.assert_allclose(rec.features(0.1 * x, config), f, atol=1e-4)  # loudness drops out
    at_16k = rec.features(np.repeat(x, 2), config, sample_rate=16000)
    assert at_16k.shape == f.shape
    with pytest.raises(ValueError, match="no samples"):
        rec.features(np.zeros(0, np.float32), config)


def test_degrade_adds_noise_at_10_to_40_db():
    rng = np.random.default_rng(0)
    x = (0.5 * np.sin(2 * np.pi * 300 * np.arange(4000) / 8000)).astype(np.float32)
    for _ in range(20):
        y = rec.degrade(x, rng)
        assert y.dtype == np.float32 and y.shape == x.shape
        snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean((y - x).astype(np.float64) ** 2))
        assert 9 < snr < 41


def test_mask_features_zeroes_one_band_in_every_stacked_frame_and_a_short_span():
    config = rec.Config(stack=3, n_mels=40)
    x = np.ones((30, 4, 120), np.float32)
    rec.mask_features(x, np.array([30, 20, 9, 1]), config, np.random.default_rng(2))
    bands = x.reshape(30, 4, 3, 40)
    for b in range(4):
        masked_bands = np.flatnonzero((bands[:, b] == 0).all(axis=(0, 1)))
        assert len(masked_bands) <= 8 and np.all(np.diff(masked_bands) == 1)
        masked_steps = np.flatnonzero((x[:, b] == 0).all(axis=1))
        assert len(masked_steps) <= 2
    assert (x == 0).any() and (x == 1).mean() > 0.7


def test_length_batches_cover_every_utterance_once_with_similar_lengths():
    lengths = np.random.default_rng(0).integers(5, 60, size=103)
    batches = rec.length_batches(lengths, 10, np.random.default_rng(1))
    assert sorted(np.concatenate(batches).tolist()) == list(range(103))
    assert max(len(b) for b in batches) == 10
    spans = [lengths[b].max() - lengths[b].min() for b in batches]
    assert max(spans) < 15  # neighbours in the sorted order, not random mixtures


def test_config_rejects_settings_that_cannot_work():
    for bad, message in ((dict(train_size=0), "train_size must be a positive"), (dict(lr=-1.0), "learning rate"),
                         (dict(min_digits=4, max_digits=2), "min_digits <= max_digits"),
                         (dict(seed=rec.TEST_SEED), "held-out set")):
        with pytest.raises(ValueError, match=message):
            rec.Config(**bad).check()


# ---- training and the public API ----------------------------------------------------------
def test_short_training_beats_the_all_blank_baseline(quick_run):
    out, result = quick_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"cer", "cer_greedy", "train_seconds", "epochs", "baseline_cer"}
    assert metrics["epochs"] == 5 and metrics["train_seconds"] > 0 and metrics["test_utterances"] == 40
    assert metrics["cer"] < 0.5 * metrics["baseline_cer"] and metrics["cer_greedy"] < 0.6
    assert result.history[-1]["train_loss"] < 0.5 * result.history[0]["train_loss"]
    for name in ("curves.png", "example.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".tmp")]


def test_loaded_recognizer_transcribes_waveforms(quick_run):
    out, result = quick_run
    recognizer = rec.load_recognizer(str(out / "checkpoint.pt"))
    test = speech.spoken_digits(40, seed=rec.TEST_SEED, max_digits=3)
    texts = recognizer.transcribe(test.waveforms, sample_rate=8000, beam=8)
    assert all(isinstance(t, str) and (t == "" or t.isdigit()) for t in texts)
    assert rec.character_error_rate(test.labels, texts) == pytest.approx(result.metrics["cer"])
    greedy = recognizer.transcribe(test.waveforms, beam=None)
    assert greedy == recognizer.transcribe(test.waveforms, beam=1)
    assert rec.character_error_rate(test.labels, greedy) == pytest.approx(result.metrics["cer_greedy"])
    with pytest.raises(ValueError, match="beam must be a positive integer"):
        recognizer.transcribe(test.waveforms[:1], beam=0)


def test_load_recognizer_refuses_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        rec.load_recognizer(str(tmp_path / "none.pt"))
    pyengine.save({"model": {}, "config": {}}, str(tmp_path / "other.pt"))
    with pytest.raises(ValueError, match="not a checkpoint written by `pyengine train recognizer`"):
        rec.load_recognizer(str(tmp_path / "other.pt"))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError):
        rec.load_recognizer(str(tmp_path / "junk.pt"))


def test_resume_after_an_interruption_continues_exactly(quick_run, tmp_path):
    _, uninterrupted = quick_run

    class Interrupt(Exception):
        pass

    def stop_after_second(epoch, history):
        if epoch == 2:
            raise Interrupt

    config = rec.Config(**QUICK)
    with pytest.raises(Interrupt):
        rec.train(config, str(tmp_path), threads=1, on_epoch_end=stop_after_second, **QUIET)
    assert not (tmp_path / "metrics.json").exists()
    resumed = rec.train(config, str(tmp_path), resume=True, threads=1, **QUIET)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4, 5]
    for a, b in zip(uninterrupted.history, resumed.history):
        for key in ("train_loss", "test_cer_greedy"):
            assert a[key] == pytest.approx(b[key], rel=1e-5), key


# ---- the CLI --------------------------------------------------------------------------------------
@pytest.fixture
def small_defaults(monkeypatch):
    """The CLI's runs on the small held-out set of QUICK."""
    monkeypatch.setattr(rec, "Config", functools.partial(rec.Config, test_size=40, max_digits=3, batch_size=16))


@pytest.fixture(scope="module")
def wav_dir(tmp_path_factory):
    """Held-out strings as <digits>_<speaker>_<index>.wav files, one not named after digits."""
    folder = tmp_path_factory.mktemp("wavs")
    test = speech.spoken_digits(6, seed=rec.TEST_SEED, max_digits=3)
    for i, (x, label) in enumerate(zip(test.waveforms, test.labels)):
        write_wav(str(folder / f"{label}_espeak_{i}.wav"), x, 8000)
    write_wav(str(folder / "yes_espeak_0.wav"), test.waveforms[0], 8000)
    return folder, test.labels


def test_cli_trains_with_data_resumes_and_recognizes(small_defaults, wav_dir, tmp_path, capsys):
    folder, labels = wav_dir
    args = ["train", "recognizer", "--out", str(tmp_path), "--threads", "1", "--hidden", "24", "--train-size", "120",
            "--lr", "0.01", "--data", str(folder)]
    assert main(args + ["--epochs", "1"]) == 0
    assert main(args + ["--epochs", "2", "--resume"]) == 0
    state = pyengine.load(str(tmp_path / "checkpoint.pt"))
    assert state["epoch"] == 2 and [h["epoch"] for h in state["history"]] == [1, 2]
    assert state["config"]["train_size"] == 120 and state["config"]["hidden"] == 24
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["data_utterances"] == 6 and 0 <= metrics["cer_data"]
    output = capsys.readouterr()
    assert "CER" in output.out and "yes_espeak_0.wav" in output.out  # the skipped file is named
    files = sorted(str(p) for p in folder.glob("[0-9]*.wav"))
    assert main(["recognize", *files, "--checkpoint", str(tmp_path / "checkpoint.pt"), "--beam", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[0] for line in lines] == files
    assert all(line.split(": ")[1] == "" or line.split(": ")[1].isdigit() for line in lines)


@pytest.mark.parametrize("args, code, message", [
    (["train", "recognizer", "--train-size", "0"], 2, "argument --train-size: must be a positive integer, got 0"),
    (["train", "recognizer", "--epochs", "-1"], 2, "argument --epochs: must be a positive integer, got -1"),
    (["recognize", "x.wav", "--beam", "0"], 2, "argument --beam: must be a positive integer, got 0"),
    (["train", "recognizer", "--data", "/no/such/folder"], 1, "--data: no folder"),
    (["train", "recognizer", "--resume", "--out", "empty"], 1, "--resume: no checkpoint at"),
    (["recognize", "missing.wav", "--checkpoint", "none.pt"], 1, "no such checkpoint"),
])
def test_cli_errors_are_clear(args, code, message, tmp_path, monkeypatch, capsys):
    """Usage errors exit 2 (argparse), errors found while running exit 1; both as one line."""
    monkeypatch.chdir(tmp_path)
    try:
        assert main(args) == code
    except SystemExit as exit_:
        assert exit_.code == code
    assert message in capsys.readouterr().err


def test_cli_reports_missing_speech_synthesis(tmp_path, monkeypatch, capsys):
    def unavailable():
        raise speech.SpeechSynthesisUnavailable("speech synthesis needs eSpeak NG")
    monkeypatch.setattr(speech, "engine", unavailable)
    assert main(["train", "recognizer", "--out", str(tmp_path)]) == 1
    assert "pyengine train recognizer: error: speech synthesis needs eSpeak NG" in capsys.readouterr().err


def test_cli_refuses_unreadable_wavs(quick_run, tmp_path, capsys):
    out, _ = quick_run
    (tmp_path / "bad.wav").write_bytes(b"RIFF....WAVEjunk")
    assert main(["recognize", str(tmp_path / "bad.wav"), "--checkpoint", str(out / "checkpoint.pt")]) == 1
    assert "bad.wav: not a readable WAV file" in capsys.readouterr().err
    assert main(["recognize", str(tmp_path / "gone.wav"), "--checkpoint", str(out / "checkpoint.pt")]) == 1
    assert "gone.wav" in capsys.readouterr().err
