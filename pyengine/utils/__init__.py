"""Utilities: data loading (pyengine.utils.data)."""
