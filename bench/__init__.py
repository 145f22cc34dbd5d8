"""Accuracy and speed benchmark (`make bench`, `python -m bench.run`)."""
