import io
import json

import pytest
from rich.console import Console

from codequarry.domain import Chunk, SearchResult
from codequarry.indexer import IndexStats
from codequarry.render import print_results, print_stats
from codequarry.terminal import printable, printable_line
from conftest import run_cli, write_tree

TITLE = "\x1b]0;pwned\x07"  # OSC: sets the window title
CLEAR = "\x1b[2J"  # CSI: clears the screen
C1_CSI = "\x9b31m"  # C1 CSI: red text on terminals that honour 8-bit controls
BIDI = "\u202e"  # right-to-left override
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\x00", "\r")


def _evil_chunk() -> Chunk:
    return Chunk(file=f"src/{TITLE}evil\nname.py", language="python", kind="function", name="f",
                 qualname=f"f{CLEAR}", line_start=1, line_end=3,
                 code=f'def f():\n    s = "{TITLE}{CLEAR}{C1_CSI}{BIDI}\x00\r"\n    return s',
                 signature=f"def f({CLEAR})")


@pytest.mark.parametrize("terminal", [False, True])
def test_search_output_never_passes_control_sequences_from_the_index(terminal):
    buf = io.StringIO()
    print_results([SearchResult(_evil_chunk(), 1.0, {})], "f", Console(file=buf, force_terminal=terminal, width=200))
    out = buf.getvalue()
    assert "evil\\nname.py:1-3" in out  # a newline in a name must not break the `file:line` line
    if terminal:  # Rich styles with its own CSI sequences; none of the content's may get through
        assert TITLE not in out and CLEAR not in out and "\x9b" not in out and BIDI not in out and "\x07" not in out
    else:  # shown, as visible escapes
        assert "\\x1b]0;pwned\\x07" in out and "\\x1b[2J" in out and "\\x9b31m" in out and "\\u202e" in out
        assert not any(c in out for c in RAW)


def test_index_statistics_are_printed_as_text_not_markup():
    stats = IndexStats(repo=f"/tmp/[bold]x[/]{TITLE}", index_dir="/tmp/x/.quarry", slot=f"s{CLEAR}", model="hash",
                       skipped={"vanished": 1})
    buf = io.StringIO()
    print_stats(stats, Console(file=buf, force_terminal=False, width=200))
    out = buf.getvalue()
    assert "/tmp/[bold]x[/]\\x1b]0;pwned\\x07" in out and "slot 's\\x1b[2J'" in out and "1 vanished" in out
    assert not any(c in out for c in RAW)


def test_printable_escapes_every_control_but_tab_and_newline():
    controls = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x202E, 0x2066, 0x2028)]
    for ch in controls:
        if ch in "\t\n":
            assert printable(ch) == ch
        else:
            assert printable(ch).startswith("\\") and ch not in printable(ch)
    assert printable_line("a\nb\tc") == "a\\nb\tc"
    assert printable("déjà vu — 日本語 ✓") == "déjà vu — 日本語 ✓"  # ordinary text untouched


def test_cli_search_escapes_human_output_and_keeps_json_exact(tmp_path):
    name = f"evil{TITLE}.py"
    repo = write_tree(tmp_path / "repo", {name: f'def banner():\n    return "{TITLE}{CLEAR}"\n'})
    assert run_cli("index", str(repo), "--model", "hash").returncode == 0
    human = run_cli("search", "banner", "--repo", str(repo), "--mode", "lexical")
    assert human.returncode == 0, human.stderr
    assert "\x1b" not in human.stdout and "\x07" not in human.stdout and "evil\\x1b]0;pwned\\x07.py:1-2" in human.stdout
    js = run_cli("search", "banner", "--repo", str(repo), "--mode", "lexical", "--json")
    hit = json.loads(js.stdout)[0]
    assert hit["file"] == name and TITLE in hit["code"]


def test_slot_list_and_errors_escape_names_read_from_the_index(sample_repo):
    import sqlite3

    assert run_cli("index", str(sample_repo), "--model", "hash").returncode == 0
    with sqlite3.connect(sample_repo / ".quarry" / "index.db") as conn:  # an index planted or damaged by someone
        conn.execute("UPDATE slots SET model = ?", (f"hash{CLEAR}",))
    out = run_cli("slot", "list", "--repo", str(sample_repo))
    assert out.returncode == 0 and "hash\\x1b[2J" in out.stdout and "\x1b" not in out.stdout
    err = run_cli("index", str(sample_repo), "--model", "hash")  # "built with model '<planted>'"
    assert err.returncode == 4 and "hash\\x1b[2J" in err.stderr and "\x1b" not in err.stderr
