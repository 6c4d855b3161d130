"""Utilities: data loading (pyengine.utils.data)."""
from pyengine.utils import data

__all__ = ["data"]
