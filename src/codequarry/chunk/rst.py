"""reStructuredText: a section per heading, found by a line scanner (no grammar on PyPI).

A heading is a line of text at the left margin underlined (optionally also
overlined) by one punctuation character repeated at least as long as the
text, or at least 3 times. As in docutils, levels are the adornment styles
in the order they first appear. A section runs to the next heading of any
level, and its qualname is the heading path (`Install > From source`), as
for markdown.
"""

from __future__ import annotations

import re

from .definitions import Extraction
from .markdown import sections

_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1{2,}\s*$")  # one punctuation character, repeated


def extract(source: str) -> Extraction:
    lines = source.split("\n")
    headings: list[tuple[int, int, str]] = []  # (first line, level, title), 1-based
    styles: list[tuple[str, bool]] = []
    i = 0
    while i < len(lines) - 1:
        over = _ADORNMENT.match(lines[i])
        if over and i + 2 < len(lines) and _is_title(lines[i + 1]) and lines[i + 2].rstrip() == lines[i].rstrip():
            found, style, start, title, i = True, (over.group(1), True), i, lines[i + 1], i + 3
        elif _is_title(lines[i]) and (under := _ADORNMENT.match(lines[i + 1])) \
                and len(lines[i + 1].rstrip()) >= min(len(lines[i].strip()), 3) \
                and (i == 0 or not lines[i - 1].strip() or _ADORNMENT.match(lines[i - 1])):
            found, style, start, title, i = True, (under.group(1), False), i, lines[i], i + 2
        else:
            found, i = False, i + 1
        if found:
            if style not in styles:
                styles.append(style)
            headings.append((start + 1, styles.index(style) + 1, " ".join(title.split())))
    out = Extraction()
    out.definitions.extend(sections("rst", headings, lines, lambda _line, title: title))
    return out


def _is_title(line: str) -> bool:
    return bool(line.strip()) and not line[:1].isspace() and not _ADORNMENT.match(line) \
        and not line.startswith("..")
