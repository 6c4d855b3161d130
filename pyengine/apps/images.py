"""Turning an arbitrary picture of a digit into an MNIST-style 28x28 image.

MNIST digits were prepared like this: the ink is bright on a black field, the
digit's bounding box is scaled so its longer side is 20 pixels (keeping the
aspect ratio, with anti-aliasing), and the result is placed in a 28x28 field so
that its centre of mass sits at the centre. A photo or a drawing has to go
through the same steps, or the classifier sees something it never trained on.
"""
from __future__ import annotations

import numpy as np

FIELD = 28
BOX = 20
# A pixel counts as ink when it is at least this fraction of the way from the
# background level to the brightest pixel: low enough to keep thin strokes,
# high enough to ignore paper texture and JPEG noise.
INK_THRESHOLD = 0.25


def _require_pillow():
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('reading images needs Pillow; install the app dependencies with: pip install ".[apps]"') from exc
    return Image


def to_grey(image) -> np.ndarray:
    """A float64 grey array in 0..255 from a PIL image or a 2-D/3-D array
    (transparent pixels count as white paper)."""
    Image = _require_pillow()
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            return image.astype(np.float64)
        image = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, image.convert("RGBA"))
    return np.asarray(image.convert("L"), dtype=np.float64)


def ink_on_black(grey: np.ndarray) -> np.ndarray:
    """Ink scaled to 0..1 on a 0 background, inverting a light background (judged
    by the median of the border pixels, where the paper is)."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    background = float(np.median(border))
    ink = background - grey if background > 127.5 else grey - background
    ink = np.clip(ink, 0.0, None)
    peak = ink.max()
    return ink / peak if peak > 0 else ink


def crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """The bounding box of the pixels that are ink (the whole image when none are)."""
    rows = np.flatnonzero((ink >= INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink >= INK_THRESHOLD).any(axis=0))
    if rows.size == 0:
        return ink
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def scale_longer_side(ink: np.ndarray, size: int = BOX) -> np.ndarray:
    """Resized (anti-aliased) so that the longer side is ``size`` pixels."""
    Image = _require_pillow()
    h, w = ink.shape
    scale = size / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    picture = Image.fromarray(ink.astype(np.float32))  # float32 -> Pillow mode "F"
    lanczos = getattr(Image, "Resampling", Image).LANCZOS  # Pillow < 9.1 has no Resampling
    return np.asarray(picture.resize((new_w, new_h), lanczos), dtype=np.float64).clip(0.0, 1.0)


def paste_by_centre_of_mass(digit: np.ndarray, field: int = FIELD) -> np.ndarray:
    """``digit`` placed in a ``field`` x ``field`` black square with its centre of
    mass (rounded to a whole pixel) at the square's centre, clipped at the edges."""
    out = np.zeros((field, field), dtype=np.float64)
    h, w = digit.shape
    mass = digit.sum()
    if mass > 0:
        cy = (np.arange(h) @ digit.sum(axis=1)) / mass
        cx = (np.arange(w) @ digit.sum(axis=0)) / mass
    else:
        cy, cx = (h - 1) / 2, (w - 1) / 2
    top = int(round((field - 1) / 2 - cy))
    left = int(round((field - 1) / 2 - cx))
    # The overlap of the digit, shifted to (top, left), with the field.
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, field), min(left + w, field)
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = digit[y0 - top:y1 - top, x0 - left:x1 - left]
    return out


def prepare_digit(image) -> np.ndarray:
    """A 28x28 float32 image in 0..1, ink bright on black, prepared as MNIST's
    digits were: grey, inverted if the background is light, cropped to the ink,
    the longer side scaled to 20 pixels, centred by centre of mass."""
    ink = ink_on_black(to_grey(image))
    return paste_by_centre_of_mass(scale_longer_side(crop_to_ink(ink))).astype(np.float32)


def load_digit(path: str) -> np.ndarray:
    """``prepare_digit`` of an image file (PNG, JPEG, or anything Pillow reads)."""
    Image = _require_pillow()
    try:
        with Image.open(path) as picture:
            picture.load()
            return prepare_digit(picture)
    except (OSError, SyntaxError) as exc:  # Pillow's errors for unreadable files
        raise ValueError(f"{path}: cannot read the image ({exc})") from exc
