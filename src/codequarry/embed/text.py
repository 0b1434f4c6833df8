"""What text stands for a chunk when it is embedded.

The choice is measured (bench/ranking_ablation.py, stdlib fixture dev half,
MiniLM): a header line naming where the chunk lives and what it is called,
then the code (which already holds its doc comment), scores dense nDCG@10
0.576 against 0.566 for bare code and 0.559 for "full", which repeats the
cleaned doc and so spends the model's short window twice on it.
"""

from __future__ import annotations

from codequarry.domain import Chunk

TEXT_FORMATS = ("full", "code", "header_code")
DEFAULT_TEXT_FORMAT = "header_code"


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
