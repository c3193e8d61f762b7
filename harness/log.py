"""Logging set-up: INFO follows the run's phases, DEBUG shows single objects and commands."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

# Progress bars and log lines share one stderr console so they do not overwrite each other.
console = Console(stderr=True)


def setup_logging(verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    handler: logging.Handler
    if console.is_terminal:
        handler = RichHandler(
            console=console,
            show_path=verbose,
            show_time=True,
            omit_repeated_times=False,
            markup=False,
            rich_tracebacks=verbose,
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        # CI logs and pipes: one unwrapped line per message, easy to grep.
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S")
        )
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # The Kubernetes client logs every HTTP request at DEBUG; keep it out unless asked.
    for noisy in ("kubernetes", "urllib3", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.ERROR)
