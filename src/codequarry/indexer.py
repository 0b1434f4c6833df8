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
import queue
import threading
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
from codequarry.graph.update import update_graph
from codequarry.locate import index_dir_for
from codequarry.progress import progress_bar
from codequarry.search.lexical import lexical_row
from codequarry.store import vectors
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


def _resolve_slot(db: IndexDB, slot: str | None, model: str | None, force: bool,
                  encoder: Encoder | None) -> tuple[str, str, bool]:
    """(slot, model, rebind): rebind means the slot changes model, which the run's final transaction
    records with the new vectors, so a run that fails (say the model does not load) leaves the slot
    as it was."""
    name = slot or db.default_slot()
    existing = db.slot(name)
    wanted = encoder.name if encoder is not None else resolve_model(model).name if (model or not existing) else None
    if existing is None:
        db.create_slot(name, wanted or resolve_model(None).name)
        return name, wanted or resolve_model(None).name, False
    if wanted and wanted != existing["model"]:
        # A slot that was never built (say its model failed to load) holds no vectors to protect.
        if not force and existing["generation"] > 0:
            raise IndexMismatchError(
                f"slot '{name}' was built with model '{existing['model']}', not '{wanted}'; "
                f"use 'quarry slot create NAME --model {wanted}' for a side-by-side index, or --force to rebuild"
            )
        return name, wanted, True
    return name, existing["model"], False


@dataclass(slots=True)
class _Scan:
    """What the scanning thread found besides parsed files; read only after it has finished."""

    report: WalkReport = field(default_factory=WalkReport)
    seen: set[str] = field(default_factory=set)
    touched: list[tuple[int, int, int]] = field(default_factory=list)
    unchanged: int = 0


_DONE = object()


def _scan(repo: Path, opts: _Options, known: dict, rechunk_all: bool, scan: _Scan, out: queue.Queue,
          stop: threading.Event) -> None:
    """Producer: walk, read and chunk changed files, handing each parsed file to `out`."""
    try:
        for sf in walk(repo, accept=lambda rel: language_for(rel) is not None, max_bytes=opts.max_bytes,
                       report=scan.report, exclude=opts.exclude):
            if stop.is_set():
                return
            scan.seen.add(sf.rel)
            prev = known.get(sf.rel)
            if prev and not rechunk_all and prev[1] == sf.size and prev[2] == sf.mtime_ns:
                scan.unchanged += 1
                continue
            text, reason = read_source(sf.path)
            if text is None:
                scan.report.skipped[reason] += 1
                scan.seen.discard(sf.rel)
                continue
            fhash = content_hash(text)
            if prev and not rechunk_all and prev[3] == fhash:
                scan.touched.append((prev[0], sf.size, sf.mtime_ns))
                scan.unchanged += 1
                continue
            chunks = chunk_file(sf.rel, text)
            parsed = _Parsed(sf.rel, language_for(sf.rel), sf.size, sf.mtime_ns, fhash, chunks,
                             [content_hash(chunk_text(c, opts.text_format)) for c in chunks])
            while not stop.is_set():
                try:
                    out.put(parsed, timeout=0.1)
                    break
                except queue.Full:
                    continue
        out.put(_DONE)
    except BaseException as exc:  # handed to the consumer, which re-raises it
        out.put(exc)


class _Embedder:
    """Embeds texts as they arrive, in length-sorted batches committed one by one."""

    def __init__(self, db: IndexDB, model_name: str, encoder: Encoder | None, progress) -> None:
        self.db, self.model_name, self.encoder, self.progress = db, model_name, encoder, progress
        self.planned: set[str] = set()
        self.pending: dict[str, str] = {}
        self.embedded = 0
        self.reused = 0

    def want(self, texts: dict[str, str]) -> None:
        new = {h: t for h, t in texts.items() if h not in self.planned}
        self.planned.update(new)
        missing = self.db.missing_embeddings(self.model_name, new)
        self.reused += len(new) - len(missing)
        self.pending.update((h, new[h]) for h in missing)
        # Several batches' worth before embedding, so length-sorting has something to sort.
        if len(self.pending) >= 4 * EMBED_BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        if self.encoder is None:
            self.encoder = load_encoder(self.model_name)
        order = sorted(self.pending, key=lambda h: len(self.pending[h]))
        for start in range(0, len(order), EMBED_BATCH):
            hashes = order[start : start + EMBED_BATCH]
            vecs = self.encoder.encode_passages([self.pending[h] for h in hashes], progress=self.progress.advance)
            # Committed batch by batch: a killed run keeps what it paid for.
            self.db.put_embeddings(self.model_name, hashes, vecs)
            self.embedded += len(hashes)
        self.pending.clear()


def _run(db: IndexDB, repo: Path, folder: Path, opts: _Options) -> IndexStats:
    force, text_format = opts.force, opts.text_format
    slot_name, model_name, rebind = _resolve_slot(db, opts.slot, opts.model, force, opts.encoder)
    stats = IndexStats(repo=str(repo), index_dir=str(folder), slot=slot_name, model=model_name)
    # Chunk texts (and so their hashes) change with the chunker and the text format.
    rechunk_all = (
        force
        or db.get_meta("chunker_version") != CHUNKER_VERSION
        or db.get_meta("text_format", text_format) != text_format
    )
    known = db.files()
    db.clear_staged()  # leftovers of a killed run
    scan = _Scan()
    # Parsing runs beside embedding (the model's runtime leaves the GIL), and parsed files
    # go to the staging table at once, so memory holds a bounded queue, not the tree.
    parsed_q: queue.Queue = queue.Queue(maxsize=64)
    stop = threading.Event()
    scanner = threading.Thread(target=_scan, args=(repo, opts, known, rechunk_all, scan, parsed_q, stop),
                               name="quarry-scan", daemon=True)
    with progress_bar(f"Indexing with {model_name}", opts.progress) as bar:
        embedder = _Embedder(db, model_name, opts.encoder, bar)
        scanner.start()
        try:
            batch: list = []
            while (item := parsed_q.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                p = item
                batch.append((p.rel, p.language, p.size, p.mtime_ns, p.hash, p.chunks, p.text_hashes))
                stats.files_parsed += 1
                stats.chunks_new += len(p.chunks)
                texts = {h: chunk_text(c, text_format) for c, h in zip(p.chunks, p.text_hashes)}
                if len(batch) >= 32:
                    db.stage(batch)
                    batch = []
                embedder.want(texts)
            db.stage(batch)
            removed = [known[p][0] for p in known.keys() - scan.seen]
            changed = bool(stats.files_parsed or removed)
            slot_info = db.slot(slot_name)
            slot_stale = rebind or slot_info["chunks_generation"] != db.chunks_generation or force
            if slot_stale:  # the slot lags behind the chunks it must cover
                for _cid, c in db.iter_chunks():
                    t = chunk_text(c, text_format)
                    embedder.want({content_hash(t): t})
            embedder.flush()
        finally:
            stop.set()
            scanner.join()
    stats.files_unchanged = scan.unchanged
    stats.files_removed = len(removed)
    stats.files_seen = scan.report.seen
    stats.skipped = dict(sorted(scan.report.skipped.items()))
    stats.embedded, stats.reused = embedder.embedded, embedder.reused
    dim = None if rebind else slot_info["dim"]
    if embedder.encoder is not None:
        dim = embedder.encoder.dim
    elif dim is None:
        dim = load_encoder(model_name).dim

    if not changed and not slot_stale and not scan.touched:
        stats.chunks = db.chunk_count()
        return stats
    with db.transaction():
        for file_id, size, mtime in scan.touched:
            db.touch_file(file_id, size, mtime)
        for file_id in removed:
            db.delete_file(file_id)
        for rel, lang, size, mtime, fhash, chunks, hashes in db.staged():
            if rel in known:
                db.delete_file(known[rel][0])
            db.add_file(rel, lang, size, mtime, fhash, chunks, hashes, [lexical_row(c) for c in chunks])
        update_graph(db, repo)  # call edges of the new chunks, and of callers whose targets changed
        db.drop_staged()
        generation = db.chunks_generation + (1 if changed or rechunk_all else 0)
        db.set_meta("chunks_generation", generation)
        db.set_meta("chunker_version", CHUNKER_VERSION)
        db.set_meta("text_format", text_format)
        new_gen = slot_info["generation"] + 1
        if changed or slot_stale:
            ids, vecs = db.slot_vectors(model_name, dim)
            vecs = truncate(vecs, slot_info["truncate_dim"])
            vectors.write(vectors.build(ids, vecs, vecs.shape[1]), vectors.vector_path(folder, slot_name, new_gen))
            db.update_slot(slot_name, model=model_name, dim=dim, generation=new_gen, chunks_generation=generation)
        stats.chunks = db.chunk_count()
    if changed or slot_stale:
        vectors.remove_stale(folder, slot_name, new_gen)
    return stats
