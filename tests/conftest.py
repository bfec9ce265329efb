"""Suite-wide settings. Area fixtures live in each sub-package's own conftest."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Capped so the whole suite stays well under 5 minutes on a loaded 2-core machine.
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.register_profile(
    "dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
