"""Human-readable terminal output (JSON output is SearchResult.to_json).

Every string that comes from the index passes through codequarry.terminal
before it is printed, and none is read as Rich markup: indexed files must
not be able to drive the terminal.
"""

from __future__ import annotations

from rich.console import Console
from rich.syntax import Syntax
from rich.text import Text

from codequarry.domain import SearchResult
from codequarry.search.tokens import tokenize
from codequarry.terminal import printable, printable_line

SNIPPET_LINES = 8
_LEXERS = {"shell": "bash", "cpp": "cpp", "tsx": "tsx", "sql": "sql", "markdown": "markdown"}


def fresh_slot_state(vectors: int, chunks: int) -> str:
    """How `quarry status` and `quarry slot list` describe a slot that is not stale."""
    if vectors < chunks:
        return f"up to date; vectors for {vectors:,} of {chunks:,} chunks ('quarry index' embeds the rest)"
    return "up to date"


def print_results(results: list[SearchResult], query: str, console: Console | None = None) -> None:
    console = console or Console()
    if not results:
        console.print("no results")
        return
    terms = set(tokenize(query))
    for rank, r in enumerate(results, 1):
        c = r.chunk
        head = Text()
        head.append(f"{rank:>2}. ", style="dim")
        head.append(f"{printable_line(c.file)}:{c.line_start}-{c.line_end}", style="bold cyan")
        head.append(f"  {printable_line(c.qualname)}", style="bold")
        head.append(f"  [{printable_line(c.kind)}, {printable_line(c.language)}]  {r.score:.3f}", style="dim")
        console.print(head)
        lines = printable(c.code).splitlines()
        snippet = "\n".join(lines[:SNIPPET_LINES]) + ("\n…" if len(lines) > SNIPPET_LINES else "")
        syntax = Syntax(snippet, _LEXERS.get(c.language, printable_line(c.language)), line_numbers=True,
                        start_line=c.line_start, word_wrap=False, theme="ansi_dark")
        for n, line in enumerate(snippet.splitlines(), 1):
            if terms & set(tokenize(line)):
                syntax.stylize_range("reverse", (n, 0), (n, len(line)))
                break
        console.print(syntax)
        console.print()


def print_files(files, console: Console | None = None) -> None:
    """`quarry search --files`: one line per file (`file:line`), its best definitions under it."""
    console = console or Console()
    if not files:
        console.print("no results")
        return
    for rank, f in enumerate(files, 1):
        head = Text()
        head.append(f"{rank:>2}. ", style="dim")
        head.append(f"{f.file}:{f.line}", style="bold cyan")
        head.append(f"  [{f.language}]  {f.score:.3f}", style="dim")
        console.print(head)
        for h in f.hits:
            c = h.chunk
            line = Text("      ")
            line.append(f"{c.file}:{c.line_start}", style="cyan")
            line.append(f"  {c.qualname}", style="bold")
            line.append(f"  [{c.kind}]  {h.score:.3f}", style="dim")
            console.print(line)


def print_stats(stats, console: Console | None = None) -> None:
    console = console or Console()
    s = stats
    skipped = ", ".join(f"{v} {k}" for k, v in s.skipped.items()) or "none"
    out = Text()
    out.append("indexed ")
    out.append(printable_line(str(s.repo)), style="bold")
    out.append(
        f" into slot '{printable_line(s.slot)}' ({printable_line(s.model)}) in {s.seconds:.1f}s\n"
        f"  files: {s.files_seen} seen, {s.files_parsed} parsed, {s.files_unchanged} unchanged, "
        f"{s.files_removed} removed; skipped: {printable_line(skipped)}\n"
        f"  chunks: {s.chunks} in index, {s.chunks_new} new; embedded {s.embedded}"
        + (f" ({printable_line(s.engine)})" if s.engine else "") + f", reused {s.reused}"
        + (f"; {s.lexical_only} searched lexically only (pieces of long containers)" if s.lexical_only else "")
    )
    # One line per fact, never folded at 80 columns: piped output is read by grep and scripts.
    console.print(out, soft_wrap=True)
