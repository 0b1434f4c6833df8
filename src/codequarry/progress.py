"""Progress bars on stderr for long work; silent when disabled or not a terminal."""

from __future__ import annotations

from contextlib import contextmanager


class _Null:
    def advance(self, n: int = 1) -> None:
        pass


@contextmanager
def progress_bar(label: str, enabled: bool, total: int | None = None):
    if not enabled:
        yield _Null()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        yield _Null()
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True) as prog:
        task = prog.add_task(label, total=total)

        class _Bar:
            def advance(self, n: int = 1) -> None:
                prog.advance(task, n)

        yield _Bar()
