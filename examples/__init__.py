"""Runnable examples; `make demo` runs one of them."""
