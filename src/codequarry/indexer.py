"""Index a repository: walk → chunk → embed → store, incrementally.

Only files whose size, mtime or content changed are re-chunked; only chunk
texts the slot's model has never seen are embedded (the cache is keyed by
text hash and model). Everything the search reads — files, chunks, call
edges, the lexical index, the slot's FAISS generation — changes in one
SQLite transaction at the end, so a run killed at any point leaves the
previous index whole; embeddings computed before the kill are kept and reused.
"""

from __future__ import annotations

import fcntl
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from codequarry.chunk import CHUNKER_VERSION, chunk_file, language_for
from codequarry.domain import Chunk, content_hash
from codequarry.embed.encoder import Encoder, load_encoder, truncate
from codequarry.embed.presets import resolve_model
from codequarry.embed.text import DEFAULT_TEXT_FORMAT, TEXT_FORMATS, chunk_text
from codequarry.errors import IndexMismatchError, UserInputError
from codequarry.progress import progress_bar
from codequarry.search.lexical import lexical_row
from codequarry.store import vectors
from codequarry.locate import index_dir_for
from codequarry.store.db import IndexDB
from codequarry.walk import DEFAULT_MAX_BYTES, WalkReport, read_source, walk

EMBED_BATCH = 256


@dataclass(slots=True)
class IndexStats:
    repo: str
    index_dir: str
    slot: str
    model: str
    files_seen: int = 0
    files_parsed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    chunks: int = 0
    chunks_new: int = 0
    embedded: int = 0
    reused: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Options:
    model: str | None
    slot: str | None
    force: bool
    encoder: Encoder | None
    progress: bool
    max_bytes: int
    exclude: tuple[str, ...]
    text_format: str


@dataclass(slots=True)
class _Parsed:
    rel: str
    language: str | None
    size: int
    mtime_ns: int
    hash: str
    chunks: list[Chunk]
    text_hashes: list[str]


def index_repository(
    repo: Path,
    *,
    model: str | None = None,
    slot: str | None = None,
    force: bool = False,
    index_dir: Path | None = None,
    encoder: Encoder | None = None,
    progress: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    exclude: tuple[str, ...] = (),
    text_format: str = DEFAULT_TEXT_FORMAT,
) -> IndexStats:
    started = time.perf_counter()
    repo = Path(repo).expanduser()
    if not repo.is_dir():
        raise UserInputError(f"not a directory: {repo}")
    if text_format not in TEXT_FORMATS:
        raise UserInputError(f"unknown text format '{text_format}' (choose from {', '.join(TEXT_FORMATS)})")
    repo = repo.resolve()
    folder = index_dir_for(repo, index_dir)
    db = IndexDB(folder, create=True)
    try:
        with _exclusive(folder):
            opts = _Options(model, slot, force, encoder, progress, max_bytes, tuple(exclude), text_format)
            stats = _run(db, repo, folder, opts)
    finally:
        db.close()
    stats.seconds = round(time.perf_counter() - started, 3)
    return stats


@contextmanager
def _exclusive(folder: Path):
    with open(folder / "lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserInputError(f"another 'quarry index' is running on {folder}") from None
        yield


def _resolve_slot(db: IndexDB, slot: str | None, model: str | None, force: bool, encoder: Encoder | None):
    name = slot or db.default_slot()
    existing = db.slot(name)
    wanted = encoder.name if encoder is not None else resolve_model(model).name if (model or not existing) else None
    if existing is None:
        db.create_slot(name, wanted or resolve_model(None).name)
        return name, wanted or resolve_model(None).name
    if wanted and wanted != existing["model"]:
        if not force:
            raise IndexMismatchError(
                f"slot '{name}' was built with model '{existing['model']}', not '{wanted}'; "
                f"use 'quarry slot create NAME --model {wanted}' for a side-by-side index, or --force to rebuild"
            )
        with db.transaction():
            db.conn.execute("UPDATE slots SET model = ?, chunks_generation = -1 WHERE name = ?", (wanted, name))
        return name, wanted
    return name, existing["model"]


def _run(db: IndexDB, repo: Path, folder: Path, opts: _Options) -> IndexStats:
    force, encoder, progress, text_format = opts.force, opts.encoder, opts.progress, opts.text_format
    slot_name, model_name = _resolve_slot(db, opts.slot, opts.model, force, encoder)
    stats = IndexStats(repo=str(repo), index_dir=str(folder), slot=slot_name, model=model_name)
    # Chunk texts (and so their hashes) change with the chunker and the text format.
    rechunk_all = (
        force
        or db.get_meta("chunker_version") != CHUNKER_VERSION
        or db.get_meta("text_format", text_format) != text_format
    )

    known = db.files()
    report = WalkReport()
    parsed: list[_Parsed] = []
    touched: list[tuple[int, int, int]] = []
    seen: set[str] = set()
    with progress_bar("Scanning", progress) as bar:
        for sf in walk(repo, accept=lambda rel: language_for(rel) is not None, max_bytes=opts.max_bytes, report=report,
                       exclude=opts.exclude):
            seen.add(sf.rel)
            prev = known.get(sf.rel)
            if prev and not rechunk_all and prev[1] == sf.size and prev[2] == sf.mtime_ns:
                stats.files_unchanged += 1
                continue
            text, reason = read_source(sf.path)
            if text is None:
                report.skipped[reason] += 1
                seen.discard(sf.rel)
                continue
            fhash = content_hash(text)
            if prev and not rechunk_all and prev[3] == fhash:
                touched.append((prev[0], sf.size, sf.mtime_ns))
                stats.files_unchanged += 1
                continue
            chunks = chunk_file(sf.rel, text)
            parsed.append(
                _Parsed(sf.rel, language_for(sf.rel), sf.size, sf.mtime_ns, fhash, chunks,
                        [content_hash(chunk_text(c, text_format)) for c in chunks])
            )
            stats.files_parsed += 1
            bar.advance(1)
    removed = [known[p][0] for p in known.keys() - seen]
    stats.files_removed = len(removed)
    stats.files_seen = report.seen
    stats.skipped = dict(sorted(report.skipped.items()))
    stats.chunks_new = sum(len(p.chunks) for p in parsed)

    changed = bool(parsed or removed)
    slot_info = db.slot(slot_name)
    slot_stale = slot_info["chunks_generation"] != db.chunks_generation or force
    # Hashes the slot must have vectors for: new chunks, and all chunks if the slot lags behind.
    needed: dict[str, str] = {}
    for p in parsed:
        for c, h in zip(p.chunks, p.text_hashes):
            needed.setdefault(h, chunk_text(c, text_format))
    if slot_stale:
        for _cid, c in db.iter_chunks():
            t = chunk_text(c, text_format)
            needed.setdefault(content_hash(t), t)
    missing = db.missing_embeddings(model_name, needed)
    stats.reused = len(needed) - len(missing)
    dim = slot_info["dim"]
    if missing:
        encoder = encoder or load_encoder(model_name)
        dim = encoder.dim
        stats.embedded = _embed(db, encoder, model_name, missing, needed, progress)
    elif dim is None:
        encoder = encoder or load_encoder(model_name)
        dim = encoder.dim

    if not changed and not slot_stale and not touched:
        stats.chunks = db.chunk_count()
        return stats
    with db.transaction():
        for file_id, size, mtime in touched:
            db.touch_file(file_id, size, mtime)
        for file_id in removed:
            db.delete_file(file_id)
        for p in parsed:
            if p.rel in known:
                db.delete_file(known[p.rel][0])
            db.add_file(p.rel, p.language, p.size, p.mtime_ns, p.hash, p.chunks, p.text_hashes,
                        [lexical_row(c) for c in p.chunks])
        generation = db.chunks_generation + (1 if changed or rechunk_all else 0)
        db.set_meta("chunks_generation", generation)
        db.set_meta("chunker_version", CHUNKER_VERSION)
        db.set_meta("text_format", text_format)
        new_gen = slot_info["generation"] + 1
        if changed or slot_stale:
            ids, vecs = db.slot_vectors(model_name, dim)
            vecs = truncate(vecs, slot_info["truncate_dim"])
            vectors.write(vectors.build(ids, vecs, vecs.shape[1]), vectors.vector_path(folder, slot_name, new_gen))
            db.update_slot(slot_name, dim=dim, generation=new_gen, chunks_generation=generation)
        stats.chunks = db.chunk_count()
    if changed or slot_stale:
        vectors.remove_stale(folder, slot_name, new_gen)
    return stats


def _embed(db: IndexDB, encoder: Encoder, model_name: str, missing: set[str], texts: dict[str, str], progress: bool) -> int:
    # Length-sorted so each batch pads little.
    order = sorted(missing, key=lambda h: len(texts[h]))
    with progress_bar(f"Embedding with {model_name}", progress, total=len(order)) as bar:
        for start in range(0, len(order), EMBED_BATCH):
            hashes = order[start : start + EMBED_BATCH]
            vecs = encoder.encode_passages([texts[h] for h in hashes], progress=bar.advance)
            # Committed batch by batch: a killed run keeps what it paid for.
            db.put_embeddings(model_name, hashes, vecs)
    return len(order)
