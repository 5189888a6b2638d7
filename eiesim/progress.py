"""Progress on stderr for work that takes more than a moment, shown only on a terminal.

Bars appear after ``DELAY_S`` seconds, so quick commands print nothing extra; output that is
piped or redirected never gets a bar.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any

DELAY_S = 2.0
"""Seconds of work before a bar appears (the issue's 'runs longer than about 2 s')."""


def stderr_is_terminal() -> bool:
    """Whether stderr is a terminal (progress is shown only there)."""
    return sys.stderr.isatty()


def progress_bar(iterable: Iterable[Any], *, total: int, desc: str, unit: str,
                 enabled: bool = True) -> Iterable[Any]:
    """``iterable`` with a tqdm bar on stderr when ``enabled`` and stderr is a terminal."""
    if not enabled or not stderr_is_terminal():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, delay=DELAY_S, file=sys.stderr)


@contextlib.contextmanager
def activity(desc: str, enabled: bool = True) -> Iterator[None]:
    """An elapsed-time line on stderr while one long step runs (a reference-engine simulation,
    a network), for steps that cannot count their progress."""
    if not enabled or not stderr_is_terminal():
        yield
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=None, desc=desc, bar_format="{desc}: {elapsed}", delay=DELAY_S,
               file=sys.stderr)
    finished = threading.Event()

    def tick() -> None:
        while not finished.wait(0.5):
            bar.refresh()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        finished.set()
        thread.join()
        bar.close()
