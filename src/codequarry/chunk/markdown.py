"""Markdown: a section per heading, and definitions inside fenced code blocks.

A section runs from its heading to the next heading of any level, so nested
sections never repeat each other's text; its qualname is the heading path
(`Install > From source`). Fenced code in a known language is parsed as that
language and its definitions become chunks of their own (language of the
fence, lines of the markdown file); the fence also stays in its section's
text, so a section reads whole.
"""

from __future__ import annotations

import re
import textwrap

from tree_sitter import Node

from . import sql
from .definitions import Definition, Extraction, extract as extract_code, last_line
from .languages import FENCE_ALIASES, parser_for
from .specs import SPECS, text

_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def extract(source: str) -> Extraction:
    root = parser_for("markdown").parse(source.encode("utf-8", "replace")).root_node
    lines = source.split("\n")
    headings: list[tuple[int, int, str]] = []  # (line, level, title)
    fences: list[Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type in ("atx_heading", "setext_heading"):
            if node.parent is not None and node.parent.type in ("document", "section"):
                heading = _heading(node)
                if heading is not None:
                    headings.append(heading)
            continue
        if node.type == "fenced_code_block":
            fences.append(node)
            continue
        if node.type != "block_quote":  # fences in quotes carry `>` on every line
            stack.extend(reversed(node.named_children))

    out = Extraction()
    out.definitions.extend(sections("markdown", headings, lines, lambda line, _title: lines[line - 1]))
    for fence in fences:
        code = _fenced(fence, lines)
        if code is not None:
            out.definitions.extend(code.definitions)
            out.calls.extend(code.calls)
    return out


def _heading(node: Node) -> tuple[int, int, str] | None:
    content = node.child_by_field_name("heading_content")
    title = _LINK.sub(r"\1", text(content)).replace("`", "").replace("*", "")
    title = " ".join(title.strip().rstrip("#").split())
    if not title:
        return None
    if node.type == "atx_heading":
        marker = next((c.type for c in node.children if c.type.startswith("atx_h")), "atx_h1_marker")
        level = int(marker[5])
    else:
        level = 1 if any(c.type == "setext_h1_underline" for c in node.children) else 2
    return node.start_point[0] + 1, level, title


def _fenced(fence: Node, lines: list[str]) -> Extraction | None:
    """Definitions in a fenced block, on the markdown file's lines; None if there are none."""
    info = fence.child_by_field_name("info_string")
    words = text(info).strip().strip("{}").split()
    lang = FENCE_ALIASES.get(words[0].lower()) if words else None
    if lang is None or (lang not in SPECS and lang != "sql"):
        return None
    delims = [c for c in fence.children if c.type == "fenced_code_block_delimiter"]
    if not delims:
        return None
    first = delims[0].start_point[0] + 2  # 1-based line after the opening fence
    last = delims[1].start_point[0] if len(delims) > 1 else last_line(fence)
    if last < first:
        return None
    body = textwrap.dedent("\n".join(lines[first - 1:last]))  # fences in lists are indented
    found = sql.extract(body) if lang == "sql" else extract_code(lang, body)
    if not found.definitions:
        return None
    found.shifted(first - 1)
    spans = [(d.start, d.end) for d in found.definitions]
    # Loose calls in an example are not anyone's; the section chunk does not carry calls.
    found.calls = [c for c in found.calls if any(s <= c[0] <= e for s, e in spans)]
    return found


def sections(language: str, headings: list[tuple[int, int, str]], lines: list[str], signature) -> list[Definition]:
    """A section per heading (line, level, title), up to the next heading, trailing blanks dropped;
    qualname = the heading path (`Guide > Install`). Markdown and reStructuredText share it."""
    out: list[Definition] = []
    trail: list[tuple[int, str]] = []
    for k, (line, level, title) in enumerate(headings):
        end = headings[k + 1][0] - 1 if k + 1 < len(headings) else len(lines)
        while end > line and not lines[end - 1].strip():
            end -= 1
        while trail and trail[-1][0] >= level:
            trail.pop()
        trail.append((level, title))
        out.append(Definition(
            language=language, kind="section", name=title, qualname=" > ".join(t for _, t in trail),
            start=line, end=end, signature=" ".join(signature(line, title).split())[:200],
        ))
    return out
