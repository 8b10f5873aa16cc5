"""Debian's Chromium, headless, for the dashboard's browser tests and its benchmark.

Playwright drives it through ``executable_path`` (its own browser download is not used). The
flags keep it from reaching for the network at start-up (updates, sync, field trials), which a
closed machine refuses many times over, and let it run as root in a container.
"""

from __future__ import annotations

import os
import shutil

CHROMIUM = os.environ.get("SWITCHOVER_CHROMIUM", "/usr/bin/chromium")
"""The browser binary (Debian's package ``chromium``; ``SWITCHOVER_CHROMIUM`` overrides)."""

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
)
"""Launch flags: headless on a machine without a display, a GPU, or the internet."""

MISSING = f"{CHROMIUM} is not installed: scripts/bootstrap.sh installs Debian's chromium"
"""What to say when the browser is not there."""


def chromium_installed() -> bool:
    """Whether the browser binary is there."""
    return shutil.which(CHROMIUM) is not None
