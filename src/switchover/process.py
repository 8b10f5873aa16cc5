"""Process-wide tuning that belongs to the program's entry point, never to a library object.

The engine caches every task of every plan it runs; with CPython's default collector thresholds
(700, 10, 10) the cyclic collector walks that cache so often that the cost of a stage grows
with the plan (``bench/engine_overhead.py`` measures it). Entry points that run engines — the
``switchover`` command and the benchmarks — raise the thresholds for their whole life with
``tuned_collector`` and restore exactly what was there before; code that embeds an engine
decides for itself.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

COLLECTOR_THRESHOLDS = (50_000, 20, 10)
"""Young garbage (events, futures) is still collected; old generations far less often."""


@contextmanager
def tuned_collector(thresholds: tuple[int, int, int] = COLLECTOR_THRESHOLDS) -> Iterator[None]:
    """Run the block with the collector's thresholds raised; restore the previous ones."""
    before = gc.get_threshold()
    gc.set_threshold(*thresholds)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def skip_the_last_collection() -> None:
    """At the very end of a short-lived command: move every object to the collector's
    permanent generation (``gc.freeze``), so that the collection the interpreter runs as it
    exits walks none of them (~40 ms of every command line's exit, measured on ``status``).

    Python does not promise finalisers of objects alive at exit; files and stores are closed
    by their ``with`` blocks before this. For the console script's entry point only.
    """
    gc.freeze()
