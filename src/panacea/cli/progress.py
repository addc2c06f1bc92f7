"""Rich progress bars for long service calls (imports, feed loads, matching)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from panacea.cli.render import errors


class ProgressBars:
    """A progress callback ``(description, done, total)`` drawing one bar per description."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, description: str, done: int, total: int | None) -> None:
        task = self._tasks.get(description)
        if task is None:
            task = self._progress.add_task(description, total=total)
            self._tasks[description] = task
        self._progress.update(task, completed=done, total=total)


@contextmanager
def progress_bars() -> Iterator[ProgressBars]:
    """Progress bars on stderr, so standard output stays clean for JSON."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=False,
    ) as progress:
        yield ProgressBars(progress)
