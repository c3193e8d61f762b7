"""Measurements derived from watch events: phase timelines and latencies."""
