"""Hypothesis profiles.

ci:   derandomized, so CI is repeatable (selected when CI is set, as .ci/run does).
dev:  random, the default for `make test`.
long: many more cases, on demand: HYPOTHESIS_PROFILE=long make test.
"""

import os

from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", derandomize=True, max_examples=1000, print_blob=True, **_common)
settings.register_profile("dev", max_examples=1000, **_common)
settings.register_profile("long", max_examples=20_000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
