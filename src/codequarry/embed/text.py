"""What text stands for a chunk when it is embedded.

The choice is measured (bench/chunk_text.py); the default puts the things a
query names first — where it lives, what it is called, what it says it does —
ahead of the code, because models truncate at their window.
"""

from __future__ import annotations

from codequarry.domain import Chunk

TEXT_FORMATS = ("full", "code", "header_code")
DEFAULT_TEXT_FORMAT = "full"


def chunk_text(chunk: Chunk, fmt: str = DEFAULT_TEXT_FORMAT) -> str:
    if fmt == "code":
        return chunk.code
    header = f"{chunk.file} {chunk.kind} {chunk.qualname}".strip()
    if fmt == "header_code":
        return f"{header}\n{chunk.code}"
    parts = [header]
    if chunk.doc and chunk.doc not in chunk.code:
        parts.append(chunk.doc)
    parts.append(chunk.code)
    return "\n".join(parts)
