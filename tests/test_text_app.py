"""The text generator app: vocabulary, batching, a short training run on a tiny
corpus, resuming, generation and the CLI commands."""
import io
import json

import numpy as np
import pytest

import pyengine
from pyengine.apps import text
from pyengine.cli import main

# A tiny corpus with a lot of structure: a model of the context beats the
# character frequencies by far after a few hundred steps.
CORPUS = "the cat sat on the mat. the dog sat on the log. a cat and a dog.\n" * 40
QUICK = dict(epochs=2, batch_size=8, seq_len=16, hidden=48, embedding=16, lr=1e-2, seed=3)
QUIET = dict(log=lambda *a: None, stream=io.StringIO())


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "tiny.txt"
    path.write_text(CORPUS, encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def quick_run(corpus_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("text")
    return out, text.train(text.Config(data=corpus_file, **QUICK), str(out), threads=1, **QUIET)


def test_vocabulary_round_trip_and_unknown_characters():
    vocabulary = text.Vocabulary("héllo, wörld\n")
    assert vocabulary.chars == "".join(sorted(set("héllo, wörld\n")))
    ids = vocabulary.encode("wörld héllo")
    assert ids.dtype == np.int64 and vocabulary.decode(ids) == "wörld héllo"
    with pytest.raises(ValueError, match="not in the vocabulary: 'QZ'"):
        vocabulary.encode("Zöl Q")


def test_streams_pair_each_character_with_the_next():
    ids = np.arange(23)
    x, y = text.streams(ids, 4)
    assert x.shape == y.shape == (4, 5)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    np.testing.assert_array_equal(x.ravel() + 1, y.ravel())  # rows continue one another
    train, val = text.split_corpus(ids, 0.1)
    assert len(val) == 2 and np.array_equal(np.concatenate([train, val]), ids)


def test_unigram_entropy_of_a_uniform_text():
    assert text.unigram_bits_per_char(np.array([0, 1, 2, 3] * 5), 6) == pytest.approx(2.0)


def test_default_corpus_is_python_help_text():
    corpus = text.default_corpus()
    assert len(corpus) > 100_000 and "The " in corpus


def test_short_training_beats_the_unigram_baseline(quick_run):
    out, result = quick_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"val_bits_per_char", "train_seconds", "epochs"}
    assert metrics["epochs"] == 2 and metrics["train_seconds"] > 0
    assert metrics["val_bits_per_char"] == result.history[-1]["val_bits_per_char"]
    assert metrics["val_bits_per_char"] < 0.6 * metrics["unigram_bits_per_char"]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".tmp")]


def test_evaluate_is_the_mean_cross_entropy_in_bits(quick_run):
    _, result = quick_run
    ids = result.vocabulary.encode(CORPUS[:200])
    with pyengine.no_grad():
        logits, _ = result.model(pyengine.from_numpy(ids[None, :-1]))
    z = logits.numpy()[0].astype(np.float64)
    log_p = z - z.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    want = -log_p[np.arange(len(ids) - 1), ids[1:]].mean() / np.log(2)
    config = text.Config(**{**QUICK, "eval_batch_size": 1})
    assert text.evaluate(result.model, ids, config) == pytest.approx(want, rel=1e-4)


def test_generation_with_a_seed_is_deterministic_and_uses_known_characters(quick_run):
    _, result = quick_run
    first = text.generate(result.model, result.vocabulary, "the ", 120, 0.8, seed=7)
    assert first == text.generate(result.model, result.vocabulary, "the ", 120, 0.8, seed=7)
    assert first.startswith("the ") and len(first) == 124 and set(first) <= set(CORPUS)
    assert first != text.generate(result.model, result.vocabulary, "the ", 120, 0.8, seed=8)
    with pytest.raises(ValueError, match="temperature must be positive"):
        text.generate(result.model, result.vocabulary, "the ", 5, 0.0)


def test_resume_after_an_interruption_continues_exactly(quick_run, corpus_file, tmp_path):
    _, uninterrupted = quick_run

    class Interrupt(Exception):
        pass

    def stop_after_first(epoch, history):
        raise Interrupt

    config = text.Config(data=corpus_file, **QUICK)
    with pytest.raises(Interrupt):
        text.train(config, str(tmp_path), threads=1, on_epoch_end=stop_after_first, **QUIET)
    assert not (tmp_path / "metrics.json").exists()
    resumed = text.train(config, str(tmp_path), resume=True, threads=1, **QUIET)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    for a, b in zip(uninterrupted.history, resumed.history):
        for key in ("train_bits_per_char", "val_bits_per_char"):
            assert a[key] == pytest.approx(b[key], rel=1e-5), key


def test_cli_trains_resumes_and_generates(corpus_file, tmp_path, capsys):
    args = ["train", "text", "--data", corpus_file, "--out", str(tmp_path), "--threads", "1", "--hidden", "16",
            "--seq-len", "16", "--batch-size", "8", "--limit-chars", "1200"]
    assert main(args + ["--epochs", "1"]) == 0
    assert main(args + ["--epochs", "2", "--resume"]) == 0
    state = pyengine.load(str(tmp_path / "checkpoint.pt"))
    assert state["epoch"] == 2 and [h["epoch"] for h in state["history"]] == [1, 2]
    assert state["config"]["limit_chars"] == 1200 and state["vocabulary"] == "".join(sorted(set(CORPUS)))
    capsys.readouterr()
    generate = ["generate", "text", "--checkpoint", str(tmp_path / "checkpoint.pt"), "--prime", "a ",
                "--length", "50", "--seed", "1"]
    assert main(generate) == 0
    sample = capsys.readouterr().out
    assert sample.startswith("a ") and len(sample) == 53  # prime, 50 characters, newline
    assert main(generate) == 0 and capsys.readouterr().out == sample


def test_cli_errors_are_clear(tmp_path, capsys):
    assert main(["train", "text", "--resume", "--out", str(tmp_path)]) == 1
    assert "no checkpoint at" in capsys.readouterr().err
    assert main(["generate", "text", "--checkpoint", str(tmp_path / "none.pt")]) == 1
    assert "none.pt" in capsys.readouterr().err
