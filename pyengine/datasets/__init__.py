"""Loaders for the bundled and user-supplied data sets."""
from pyengine.datasets.mnist import DatasetError, Digits, load_mnist, load_mnist_5k, read_idx

__all__ = ["DatasetError", "Digits", "load_mnist", "load_mnist_5k", "read_idx"]
from pyengine.datasets import audio
from pyengine.datasets.audio import load_wav_folder, read_wav, write_wav

__all__ += ["audio", "load_wav_folder", "read_wav", "write_wav"]
from pyengine.datasets import speech
from pyengine.datasets.speech import spoken_digits

__all__ += ["speech", "spoken_digits"]
