"""Scenario steps: each turns one step of a scenario file into result records."""
