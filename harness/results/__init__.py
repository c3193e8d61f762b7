"""Versioned result records, success-metric verdicts and the run directory."""
