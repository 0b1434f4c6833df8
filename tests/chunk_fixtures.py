"""The chunk fixtures under tests/fixtures/chunk, chunked once per test session (shared by the
per-language chunker tests)."""

from functools import lru_cache
from pathlib import Path

from codequarry.chunk import chunk_file

FIXTURES = Path(__file__).parent / "fixtures" / "chunk"


@lru_cache(maxsize=None)
def chunks(name: str):
    return tuple(chunk_file(name, (FIXTURES / name).read_text()))


def find(name: str, qualname: str, kind: str | None = None):
    found = [c for c in chunks(name) if c.qualname == qualname and (kind is None or c.kind == kind)]
    assert len(found) == 1, f"{qualname} in {name}: {found}"
    return found[0]
