"""Process-wide tuning: owned by the entry point, restored exactly, and the exit's shortcut."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from switchover.process import COLLECTOR_THRESHOLDS, tuned_collector


def test_the_collector_thresholds_are_raised_inside_and_restored_exactly() -> None:
    """Whatever the caller had is what it has again, also when the block raises."""
    before = gc.get_threshold()
    try:
        gc.set_threshold(123, 4, 5)
        with tuned_collector():
            assert gc.get_threshold() == COLLECTOR_THRESHOLDS
        assert gc.get_threshold() == (123, 4, 5)
        seen: list[tuple[int, int, int]] = []

        def failing() -> None:
            with tuned_collector((9_999, 9, 9)):
                seen.append(gc.get_threshold())
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            failing()
        assert seen == [(9_999, 9, 9)]
        assert gc.get_threshold() == (123, 4, 5)
    finally:
        gc.set_threshold(*before)


def test_the_command_line_restores_the_thresholds_and_freezes_its_heap_at_the_end() -> None:
    """``switchover`` leaves the thresholds as it found them and hands what it made to the
    permanent generation, so the collection at exit walks nothing (in a process of its own)."""
    probe = (
        "import gc, sys\ngc.set_threshold(321, 7, 8)\nsys.argv = ['switchover', '--version']\n"
        "from switchover.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(gc.get_threshold(), gc.get_freeze_count() > 1000)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "(321, 7, 8) True"
