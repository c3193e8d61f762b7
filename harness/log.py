"""Logging set-up: INFO follows the run's phases, DEBUG shows single objects and commands."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

# Progress bars and log lines share one stderr console so they do not overwrite each other.
console = Console(stderr=True)


def setup_logging(verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    handler = RichHandler(
        console=console,
        show_path=verbose,
        show_time=True,
        omit_repeated_times=False,
        markup=False,
        rich_tracebacks=verbose,
    )
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
    # The Kubernetes client logs every HTTP request at DEBUG; keep it out unless asked.
    for noisy in ("kubernetes", "urllib3", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
