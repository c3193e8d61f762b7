"""Scenario files: typed models and the loader that validates them."""

from harness.scenario.loader import load_scenario
from harness.scenario.models import Scenario

__all__ = ["Scenario", "load_scenario"]
