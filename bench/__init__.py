"""Benchmarks of switchover: each module runs as ``python -m bench.NAME`` and prints its figures.

Performance is measured here and never asserted in the test suite. ``bench.all`` runs the
engine, I/O-floor and verify fan-out benchmarks at their small sizes (``make bench``).
"""
