"""Turn a run's records into Markdown summaries and plots."""
