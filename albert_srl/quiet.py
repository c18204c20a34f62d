"""transformers' expected notes silenced while a model or tokenizer directory loads (errors still raise)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_transformers(*names: str) -> Iterator[None]:
    """Loggers ``transformers.<name>`` at ERROR for the duration, then as they were."""
    loggers = [logging.getLogger(f"transformers.{name}") for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
