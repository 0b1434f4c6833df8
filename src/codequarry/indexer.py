"""Index a repository: walk → chunk → store → embed, incrementally and progressively.

Only files whose size, mtime or content changed are re-chunked; only chunk
texts the slot's model has never seen are embedded (the cache is keyed by
text hash and model). A run commits twice over: first files, chunks, call
edges, the lexical index and the slot's vectors for what the cache already
holds, in one SQLite transaction — searchable at once; then the missing
vectors, batch by batch, the slot's FAISS file republished every
PUBLISH_SECONDS and at the end. A run killed at any point leaves the last
commit whole and loses at most one batch of embedding; the next run embeds
only what is still missing.
"""

from __future__ import annotations

import fcntl
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from codequarry.chunk import CHUNKER_VERSION
from codequarry.embed.encoder import Encoder, load_encoder, truncate
from codequarry.embed.presets import resolve_model
from codequarry.embed.select import SELECT_VERSION, lexical_only
from codequarry.embed.text import DEFAULT_TEXT_FORMAT, TEXT_FORMATS, chunk_text
from codequarry.errors import (CorruptIndexError, IndexMismatchError, MissingExtraError, ModelUnavailableError,
                               UserInputError)
from codequarry.graph.update import update_graph
from codequarry.locate import index_dir_for
from codequarry.progress import progress_bar
from codequarry.store import repair, vectors
from codequarry.store.db import DamagedEmbeddings, IndexDB, check_slot_name, storage_error, unusable_model_hint
from codequarry.scan import ScanReport
from codequarry.scan import scan as scan_files
from codequarry.walk import DEFAULT_MAX_BYTES, check_options

EMBED_BATCH = 256


@dataclass(slots=True)
class IndexStats:
    repo: str
    index_dir: str
    slot: str
    model: str
    # What computed this run's vectors ("openvino bf16", "onnxruntime fp32", ...); empty when none were.
    engine: str = ""
    files_seen: int = 0
    files_parsed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    chunks: int = 0
    chunks_new: int = 0
    embedded: int = 0
    reused: int = 0
    # Chunks the dense leg leaves to the lexical one (pieces of long containers;
    # embed/select.py): searched, never embedded.
    lexical_only: int = 0
    seconds: float = 0.0
    # Chunk texts left to embed when the run returned after its lexical phase (--background).
    pending: int = 0
    # What this run found damaged and rebuilt (index.db, a vector file, cached vectors), one line each.
    repaired: list[str] = field(default_factory=list)

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
    refill: bool = False  # re-check every chunk's cached vector (after some were found damaged)
    background: bool = False  # return after the lexical phase; index_repository embeds in a detached process


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
    background: bool = False,
    spawn: bool = True,
) -> IndexStats:
    """Index `repo`; with `background`, return after the lexical phase and leave a detached
    `quarry index` embedding the rest (its output goes to background.log in the index folder),
    or, without `spawn`, leave the vectors to the next run (a benchmark timing the lexical phase)."""
    started = time.perf_counter()
    repo = Path(repo).expanduser()
    if not repo.is_dir():
        raise UserInputError(f"not a directory: {repo}")
    if text_format not in TEXT_FORMATS:
        raise UserInputError(f"unknown text format '{text_format}' (choose from {', '.join(TEXT_FORMATS)})")
    check_options(max_bytes, tuple(exclude))  # before anything is written: a bad option leaves no index
    repo = repo.resolve()
    folder = index_dir_for(repo, index_dir)
    opts = _Options(model, slot, force, encoder, progress, max_bytes, tuple(exclude), text_format,
                    background=background)
    try:
        with _exclusive(folder):
            stats = _index_checked(repo, folder, opts)
        if stats.pending and spawn:  # the lock is released: the detached run takes it
            _spawn_embedder(repo, folder, opts, stats.slot)
    except (sqlite3.DatabaseError, OSError) as exc:
        # A full disk or a damaged file: one line naming the fix; the last committed index stands.
        err = storage_error(exc, folder)
        if err is exc:
            raise
        raise err from exc
    stats.seconds = round(time.perf_counter() - started, 3)
    return stats


def _spawn_embedder(repo: Path, folder: Path, opts: _Options, slot: str) -> None:
    """A detached `quarry index` on the same slot: its lexical phase finds nothing to do (unless
    files changed meanwhile) and it embeds what is missing. The slot is bound to the model already."""
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "codequarry.cli", "index", str(repo), "--index-dir", str(folder), "--slot", slot,
           "--max-bytes", str(opts.max_bytes), "--json"]
    for pattern in opts.exclude:
        cmd += ["--exclude", pattern]
    with open(folder / "background.log", "ab") as log:
        subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                         env={**os.environ, "QUARRY_NO_SERVER": "1"}, close_fds=True)


def _index_checked(repo: Path, folder: Path, opts: _Options) -> IndexStats:
    """One run, after checking what it builds on: index.db must pass SQLite's quick_check (or be
    rebuilt, with --force), and damaged cached vectors are embedded again."""
    notes: list[str] = []
    for attempt in range(3):
        damaged = None
        db = _open_checked(folder, opts.force, notes)
        try:
            stats = _run(db, repo, folder, opts, notes)
            stats.repaired = notes
            return stats
        except DamagedEmbeddings as exc:
            if attempt == 2:
                raise CorruptIndexError(f"cached vectors keep failing their checks in {db.path}; {repair.HINT}") from exc
            db.delete_embeddings(exc.model, exc.text_hashes)
            notes.append(f"{len(exc.text_hashes)} cached vectors of {exc.model} were damaged or missing; "
                         "embedded them again")
            opts = replace(opts, refill=True)
        except sqlite3.DatabaseError as exc:
            # Damage quick_check cannot see (say inside the lexical index) shows up mid-run.
            if not (opts.force and attempt == 0 and isinstance(storage_error(exc, folder), CorruptIndexError)):
                raise
            damaged = str(exc)
        finally:
            db.close()
        if damaged:
            notes.append(repair.rebuild_database(folder, damaged))
    raise AssertionError("unreachable")


def _open_checked(folder: Path, force: bool, notes: list[str]) -> IndexDB:
    try:
        db = IndexDB(folder, create=True)
    except CorruptIndexError as exc:  # its message names the fix: this, with --force
        if not force:
            raise
        notes.append(repair.rebuild_database(folder, str(exc.__cause__ or exc)))
        return IndexDB(folder, create=True)
    try:
        problem = db.quick_check()
    except BaseException:
        db.close()
        raise
    if problem is None:
        return db
    db.close()
    if not force:
        raise CorruptIndexError(f"{db.path} is damaged ({problem}); {repair.HINT}")
    notes.append(repair.rebuild_database(folder, problem))
    return IndexDB(folder, create=True)


@contextmanager
def _exclusive(folder: Path):
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserInputError(f"{folder} is a file, not an index folder; move it away or pass --index-dir") from None
    with open(folder / "lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserInputError(f"another 'quarry index' is running on {folder}") from None
        yield


def _resolve_slot(db: IndexDB, slot: str | None, model: str | None, force: bool,
                  encoder: Encoder | None) -> tuple[str, str, bool, dict]:
    """(slot, model, rebind, slot row): rebind means the slot changes model (or is new), which the
    run's final transaction records with the new vectors, so a run that fails (say the model does
    not load) leaves the slot as it was, and a first run that fails leaves no slot at all."""
    name = slot or db.default_slot()
    check_slot_name(name)
    existing = db.slot(name)
    wanted = encoder.name if encoder is not None else resolve_model(model).name if (model or not existing) else None
    if existing is None:
        return name, wanted, True, dict(name=name, model=wanted, dim=None, generation=0, chunks_generation=-1,
                                        truncate_dim=None, checksum=None, new=True)
    if wanted and wanted != existing["model"]:
        # A slot that was never built (say its model failed to load) holds no vectors to protect.
        if not force and existing["generation"] > 0:
            raise IndexMismatchError(
                f"slot '{name}' was built with model '{existing['model']}', not '{wanted}'; "
                f"use 'quarry slot create NAME --model {wanted}' for a side-by-side index, or --force to rebuild"
            )
        return name, wanted, True, existing
    return name, existing["model"], False, existing


def _preset_dim(model_name: str) -> int | None:
    from codequarry.embed.presets import PRESETS

    preset = PRESETS.get(model_name)
    return preset.dim if preset is not None and preset.dim > 0 else None


def _load_encoder(model_name: str, slot: dict, explicit: bool) -> Encoder:
    try:
        return load_encoder(model_name)
    except (ModelUnavailableError, MissingExtraError) as exc:
        if explicit:  # the user named the model (or no slot holds one): its own message says what loads
            raise
        # The model came from the slot's binding: say how to bind it to one that loads.
        raise type(exc)(f"{exc.format_message()}; {unusable_model_hint(slot)}") from exc


class _Loader:
    """Loads the encoder on a thread of its own while the tree is parsed (once `start` is called:
    a run with nothing to parse never loads it), so the lexical phase does not wait for it; the
    run still fails before committing anything if the model does not load."""

    def __init__(self, encoder: Encoder | None, load) -> None:
        self.encoder, self.error, self.load = encoder, None, load
        self.thread = None

    def start(self) -> None:
        if self.encoder is None and self.thread is None:
            # Not a daemon: a run that turns out to need no vector (a re-chunk that changed no text) must
            # not exit while the model is still loading — ONNX Runtime aborts the process (SIGABRT) when
            # the interpreter shuts down under a thread inside its initialisation. Exit waits for it.
            self.thread = threading.Thread(target=self._load, args=(self.load,), name="quarry-load")
            self.thread.start()

    def _load(self, load) -> None:
        try:
            self.encoder = load()
        except BaseException as exc:  # re-raised by get(), on the main thread
            self.error = exc

    def get(self) -> Encoder:
        self.start()
        if self.thread is not None:
            self.thread.join()
        if self.error is not None:
            raise self.error
        return self.encoder


def _run(db: IndexDB, repo: Path, folder: Path, opts: _Options, notes: list[str]) -> IndexStats:
    """Two phases, each committed: (1) files, chunks, call edges, the lexical index and the slot's
    vectors for whatever the cache already holds — searchable at once; (2) the missing vectors,
    embedded and committed batch by batch, the slot's vector file republished as they arrive."""
    force, text_format = opts.force, opts.text_format
    slot_name, model_name, rebind, slot_info = _resolve_slot(db, opts.slot, opts.model, force, opts.encoder)
    stats = IndexStats(repo=str(repo), index_dir=str(folder), slot=slot_name, model=model_name)
    explicit = bool(opts.model) or slot_info.get("new", False)
    # The slot's current vectors must be whole: a missing, truncated or damaged file (or one from
    # before checksums) is rebuilt from the embedding cache by this run, even if nothing changed.
    vectors_bad = False
    if slot_info["generation"] > 0:
        path = vectors.vector_path(folder, slot_name, slot_info["generation"])
        problem = vectors.damage(path, slot_info["checksum"])
        vectors_bad = problem is not None or slot_info["checksum"] is None
        if problem:
            notes.append(f"vector file {path.name} was {problem}; rebuilt it from the embedding cache")
    # Chunk texts (and so their hashes) change with the chunker and the text format.
    rechunk_all = (
        force
        or db.get_meta("chunker_version") != CHUNKER_VERSION
        or db.get_meta("text_format", text_format) != text_format
    )
    known = db.files()
    (folder / "staging.db").unlink(missing_ok=True)  # the staging scratch file of earlier versions, if one was left
    scan = ScanReport()
    loader = _Loader(opts.encoder, lambda: _load_encoder(model_name, slot_info, explicit))
    # A detached embedder will load the model anyway: when the slot's width is known without it
    # (a preset), the lexical phase does not spend a core on loading it.
    preset_dim = _preset_dim(model_name) if opts.background and opts.encoder is None else None

    def start_loading(to_parse: int) -> None:  # after the scan's workers are forked: no thread may be copied
        if to_parse and preset_dim is None:
            loader.start()

    planned: set[str] = set()  # text hashes of the chunks this run (re)adds
    facts: dict[str, object] = {}  # path → the call-graph facts its parse found
    new_gen = None
    # Phase 1: everything but the missing vectors, in one transaction. Parsed files are stored as the
    # workers hand them over, so storing overlaps parsing and memory holds one file's chunks at a time.
    try:
        with db.transaction():
            if rechunk_all:  # every chunk is about to be re-added
                db.reset_lexical()
            for p in scan_files(repo, known, rechunk_all, scan, text_format=text_format, max_bytes=opts.max_bytes,
                                exclude=opts.exclude, on_fork=start_loading):
                if p.rel in known:
                    db.delete_file(known[p.rel][0])
                db.add_file(p.rel, p.language, p.size, p.mtime_ns, p.hash, p.chunks, p.text_hashes, p.lexical_rows)
                facts[p.rel] = p.facts
                stats.files_parsed += 1
                stats.chunks_new += len(p.chunks)
                planned.update(p.text_hashes)
            removed = [known[p][0] for p in known.keys() - scan.seen]
            changed = bool(stats.files_parsed or removed)
            slot_stale = (rebind or vectors_bad or opts.refill or force
                          or slot_info["chunks_generation"] != db.chunks_generation
                          or db.get_meta("select_version") != SELECT_VERSION)
            unfinished = slot_info.get("embedded") is not None  # a run stopped while embedding
            stats.files_unchanged = scan.unchanged
            stats.files_removed = len(removed)
            stats.files_seen = scan.walk.seen
            stats.skipped = dict(sorted(scan.walk.skipped.items()))
            if not changed and not slot_stale and not scan.touched and not unfinished:
                stats.chunks = db.chunk_count()
                return stats
            encoder = None
            if (rebind or slot_info["dim"] is None) and preset_dim:
                dim = preset_dim  # the detached embedder loads the model (background.log says if it fails)
            elif rebind or slot_info["dim"] is None:
                # Before the commit: a model that does not load leaves the index as it was.
                encoder = loader.get()
                dim = encoder.dim
            else:  # a run with nothing new to embed (say files were only removed) needs no model
                dim = slot_info["dim"]
            for file_id, size, mtime in scan.touched:
                db.touch_file(file_id, size, mtime)
            for file_id in removed:
                db.delete_file(file_id)
            # The chunks are final from here on: which of them get no vector is decided once per run.
            placed = db.placements()
            publish = _Publisher(db, slot_name, model_name, dim, slot_info["truncate_dim"],
                                 frozenset(lexical_only(placed)))
            if changed or slot_stale or scan.touched or rechunk_all:
                # Call edges of the new chunks (from the facts the scan found), and of callers whose
                # targets changed.
                update_graph(db, repo, facts)
                generation = db.chunks_generation + (1 if changed or rechunk_all else 0)
                db.set_meta("chunks_generation", generation)
                db.set_meta("chunker_version", CHUNKER_VERSION)
                db.set_meta("text_format", text_format)
                db.set_meta("select_version", SELECT_VERSION)
                if changed or slot_stale:
                    # The slot's vectors for what the cache holds already (all of it after a small edit);
                    # the chunk ids of its previous file may name other chunks now.
                    new_gen = publish(complete=False)
                # Cached vectors no chunk uses any more (old versions of edited code) go with the commit
                # that drops their chunks.
                db.collect_embeddings()
    except BaseException:
        if new_gen is not None:  # the commit failed (say the disk filled): nothing points at it
            vectors.vector_path(folder, slot_name, new_gen).unlink(missing_ok=True)
        raise
    if new_gen is not None:
        vectors.remove_stale(folder, slot_name, new_gen)
    facts.clear()  # the graph has them now; embedding may run for a long time

    # Phase 2: embed what the cache lacks, committing each batch; chunks the dense leg leaves to the
    # lexical one (embed/select.py) need no vector, unless another chunk shares their text.
    skip = publish.skip
    needed = {p.text_hash for i, p in placed if i not in skip}
    missing = [(cid, h) for cid, h in db.unembedded(model_name) if h in needed]
    if slot_stale or unfinished:
        planned.update(db.all_text_hashes())
    stats.reused = len(planned & needed) - len({h for _, h in missing} & planned)
    stats.lexical_only = len(skip)
    slot_now = db.slot(slot_name)
    if missing and opts.background:
        stats.pending = len(missing)
        stats.chunks = db.chunk_count()
        return stats
    if missing or slot_now is None or slot_now["embedded"] is not None:
        _embed(db, encoder, model_name, text_format, missing,
               stats, opts.progress, publish, loader)
    stats.chunks = db.chunk_count()
    return stats


# A new vector file for the slot at most every PUBLISH_SECONDS while embedding: each one reads every
# cached vector and writes the whole file, so publishing after every batch would cost O(n²).
PUBLISH_SECONDS = 10.0


def _embed(db: IndexDB, encoder: Encoder, model_name: str, text_format: str, missing: list[tuple[int, str]],
           stats: IndexStats, progress: bool, publish: _Publisher, loader: _Loader) -> None:
    texts: dict[str, str] = {}
    for start in range(0, len(missing), 500):
        part = missing[start : start + 500]
        found = db.chunks_by_id(cid for cid, _ in part)
        texts.update((h, chunk_text(found[cid], text_format)) for cid, h in part)
    order = sorted(texts, key=lambda h: len(texts[h]))  # length-sorted batches pad least
    if order:
        if encoder is None:
            encoder = loader.get()
        stats.engine = getattr(encoder, "engine", "")
    last = time.monotonic()
    label = f"Embedding with {model_name}" + (f" ({stats.engine})" if stats.engine else "")
    with progress_bar(label, progress) as bar:
        for start in range(0, len(order), EMBED_BATCH):
            hashes = order[start : start + EMBED_BATCH]
            vecs = encoder.encode_passages([texts[h] for h in hashes], progress=bar.advance)
            # Committed batch by batch: a killed run keeps what it paid for.
            db.put_embeddings(model_name, hashes, vecs)
            stats.embedded += len(hashes)
            more = start + EMBED_BATCH < len(order)
            if more and time.monotonic() - last >= PUBLISH_SECONDS:
                publish.commit(complete=False)
                last = time.monotonic()
    publish.commit(complete=True)


@dataclass(frozen=True, slots=True)
class _Publisher:
    """Writes a slot's next vector file from the embedding cache and points the slot at it."""

    db: IndexDB
    slot: str
    model: str
    dim: int
    truncate_dim: int | None
    skip: frozenset[int]  # chunks left to the lexical leg (embed/select.py)

    def __call__(self, complete: bool) -> int | None:
        """Inside the caller's transaction; the new generation. Not `complete`: chunks without a
        cached vector are left out and the slot records how many it covers; complete: every chunk
        must have one (DamagedEmbeddings names those that do not). None: a slot with no vector file
        yet and no cached vector to put in one (a first run's lexical phase) records its model and
        width with no file, and search answers lexically meanwhile without loading numpy or faiss."""
        db, skip = self.db, self.skip
        current = db.slot(self.slot)
        if not complete and (current is None or not current["generation"]) and not db.has_vectors(self.model):
            db.update_slot(self.slot, model=self.model, dim=self.dim, generation=0,
                           chunks_generation=db.chunks_generation, embedded=0)
            return None
        ids, vecs = db.slot_vectors(self.model, self.dim, partial=not complete, without=skip)
        vecs = truncate(vecs, self.truncate_dim)
        gen = vectors.next_generation(db.folder, self.slot, current["generation"] if current else 0)
        width = vecs.shape[1] if len(vecs) else (self.truncate_dim or self.dim)
        path = vectors.vector_path(db.folder, self.slot, gen)
        digest = vectors.write(vectors.build(ids, vecs, width), path)
        try:
            total = db.chunk_count() - len(skip)
            db.update_slot(self.slot, model=self.model, dim=self.dim, generation=gen,
                           chunks_generation=db.chunks_generation, checksum=digest,
                           embedded=None if len(ids) == total else len(ids))
        except BaseException:
            path.unlink(missing_ok=True)  # nothing will point at it
            raise
        return gen

    def commit(self, complete: bool) -> None:
        """Publish in a transaction of its own, then remove the generations it replaces."""
        gen = None
        try:
            with self.db.transaction():
                gen = self(complete)
        except BaseException:
            if gen is not None:  # the commit failed (say the disk filled): nothing points at it
                vectors.vector_path(self.db.folder, self.slot, gen).unlink(missing_ok=True)
            raise
        if gen is not None:
            vectors.remove_stale(self.db.folder, self.slot, gen)
