"""Cut a run of lines into overlapping windows that fit a character budget."""

from __future__ import annotations


def split_lines(lines: list[str], start: int, end: int, max_chars: int,
                overlap: int) -> list[tuple[int, int, str]]:
    """Windows `(line_start, line_end, code)` over lines `start..end` (1-based, inclusive).

    Each window is at most `max_chars` long and repeats up to `overlap` lines
    (and at most half its budget) of the previous one, so text near a cut is
    searchable with its context.
    A single line longer than `max_chars` is cut by characters: those pieces
    all report that one line, and `code` is a slice of it.
    """
    whole = "\n".join(lines[start - 1:end])
    if len(whole) <= max_chars:
        return [(start, end, whole)]
    out: list[tuple[int, int, str]] = []
    floor = start  # overlap never reaches back past this (nor past a line cut by characters)
    i = start  # first line no window has covered yet
    while i <= end:
        line = lines[i - 1]
        if len(line) > max_chars:
            out.extend((i, i, line[k:k + max_chars]) for k in range(0, len(line), max_chars))
            i += 1
            floor = i
            continue
        # Overlap takes at most half the budget, so every window moves well forward.
        s = max(floor, i - overlap)
        shared = sum(len(x) + 1 for x in lines[s - 1:i - 1])
        while s < i and (shared > max_chars // 2 or shared + len(line) > max_chars):
            shared -= len(lines[s - 1]) + 1
            s += 1
        size = shared + len(line)
        e = i
        while e < end and size + 1 + len(lines[e]) <= max_chars:
            size += 1 + len(lines[e])
            e += 1
        out.append((s, e, "\n".join(lines[s - 1:e])))
        i = e + 1
    return out
