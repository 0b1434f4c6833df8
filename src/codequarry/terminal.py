"""Make text from an index safe to print on a terminal.

Anything indexed (file names, qualified names, signatures, code) comes from
files nobody vetted. A terminal obeys escape sequences wherever they appear:
`ESC ] 0 ; … BEL` retitles the window, `ESC [ 2 J` clears the screen, C1
controls (U+0080–U+009F) act as ESC-prefixed ones on many terminals, and
bidirectional overrides make code read differently from what it is
("Trojan Source"). Every human-rendered string from the index goes through
`printable` (multi-line text) or `printable_line` (one field on one line),
which show each such character as a visible `\\xNN` / `\\uNNNN` escape.
JSON output needs none of this: json.dumps escapes controls itself.
"""

from __future__ import annotations

_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))


def _escape(cp: int) -> str:
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"


# C0 controls but tab and newline, DEL, C1 controls, bidirectional controls, and the Unicode
# line and paragraph separators (a line break to some readers, none to others).
_TABLE = {cp: _escape(cp) for cp in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *_BIDI, 0x2028, 0x2029)
          if cp not in (0x09, 0x0A)}
_LINE_TABLE = {**_TABLE, 0x0A: "\\n"}


def printable(text: str) -> str:
    """`text` with every terminal control shown as an escape; tabs and newlines kept."""
    return text.translate(_TABLE)


def printable_line(text: str) -> str:
    """Like `printable`, and newlines escaped too: for a field that must stay on its line."""
    return text.translate(_LINE_TABLE)
