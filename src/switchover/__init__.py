"""switchover: switch tenants between deployment units, safely, and back.

Layers (imports point inward): ``errors`` and ``domain`` (pure) ← ``steps``, ``stages``,
``stores``, ``discovery`` ← ``engine`` (protocols only) ← ``wiring`` (the one place that knows
concrete classes) ← ``cli``.
"""

from __future__ import annotations

__version__ = "0.1.0"
