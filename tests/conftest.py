"""Test-suite settings shared by every file.

Hypothesis runs derandomized by default (the same examples on every run and every
fresh clone), so a red CI is reproducible; ``HYPOTHESIS_PROFILE=explore`` draws new
examples, as ``make fuzz`` does for the parser.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
