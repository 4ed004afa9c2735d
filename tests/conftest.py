"""Shared test settings: Hypothesis without its per-example deadline. Tests here check
numbers, never speed (speed is measured in bench/), and a deadline fails a correct test
on a loaded machine (a first example that builds caches, a CI runner shared with others)."""

from hypothesis import settings

settings.register_profile("tigris", deadline=None)
settings.load_profile("tigris")
