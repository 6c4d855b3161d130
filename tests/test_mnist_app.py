"""The image classifier app: preprocessing of user images, the progress bar, and
(end to end, on small subsets) training, resuming and prediction."""
import io

import numpy as np
import pytest

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
