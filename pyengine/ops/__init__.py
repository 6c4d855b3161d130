"""One Function per primitive, grouped by family."""
