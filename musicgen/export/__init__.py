"""Networks written for players outside the toolkit (export.py)."""
