"""Hypothesis profiles.

ci:   derandomized, so CI is repeatable (selected when CI is set, as .ci/run does).
dev:  random, the default for `make test`.
long: many more cases, on demand: HYPOTHESIS_PROFILE=long make test.
fuzz: the loader fuzz tests' long run (make fuzz): 340,000 cases a property, over a million files across
      tests/test_fuzz_loader.py's three properties; no example database (it would only grow).
"""

import os

from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", derandomize=True, max_examples=1000, print_blob=True, **_common)
settings.register_profile("dev", max_examples=1000, **_common)
settings.register_profile("long", max_examples=20_000, **_common)
settings.register_profile("fuzz", max_examples=340_000, database=None, print_blob=True, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
