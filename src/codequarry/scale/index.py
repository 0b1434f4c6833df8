"""`quarry org index`: many repositories into one store, parsed by Ray tasks, embedded by an actor pool.

The driver (this process) is the only writer: Milvus Lite allows one process
per file, and one writer keeps a repository's add-then-delete in order. Ray
tasks walk and chunk repositories (one task each); N embedding actors each
load the model once and embed batches; the driver plans each repository
against what the store holds and writes rows batch by batch.

Incremental per repository, at two levels. Files: the store records each
file's size, mtime and content hash, and a parse task reads and chunks only
files whose state changed (their other chunks stand); chunks of files gone
from the repository are deleted. Chunks: of a changed file, a chunk whose id
(place + text hash) is stored is kept as it is; a new chunk whose text hash
the repository already stores reuses that vector; only the rest is embedded.
Stale chunks are deleted after the repository's new rows are in, and file
states are recorded last, so a killed run re-reads files rather than trusting
chunks it never wrote.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from codequarry.embed.presets import resolve_model
from codequarry.embed.text import DEFAULT_TEXT_FORMAT, chunk_text
from codequarry.errors import QuarryError, UserInputError
from codequarry.scale.parse import ParsedRepo, parse_repository, parser_version
from codequarry.scale.runtime import ray_runtime
from codequarry.store.base import ChunkRow, chunk_id
from codequarry.walk import DEFAULT_MAX_BYTES, check_options

EMBED_BATCH = 256
# In flight at once, per worker: bounds the driver's memory whatever the number of repositories.
PARSE_AHEAD = 2
EMBED_AHEAD = 2


@dataclass(slots=True)
class RepoStats:
    name: str
    path: str
    files_seen: int = 0
    files_parsed: int = 0  # read and chunked; unchanged files are neither
    files_unchanged: int = 0
    files_removed: int = 0
    chunks: int = 0
    kept: int = 0  # stored already, untouched
    reused: int = 0  # new place, stored text: vector copied, not embedded
    embedded: int = 0
    removed: int = 0
    parse_seconds: float = 0.0


@dataclass(slots=True)
class OrgIndexStats:
    store: str
    model: str
    workers: int
    repos: list[RepoStats] = field(default_factory=list)
    files_parsed: int = 0
    files_unchanged: int = 0
    chunks: int = 0
    kept: int = 0
    reused: int = 0
    embedded: int = 0
    removed: int = 0
    seconds: float = 0.0
    parse_seconds: float = 0.0  # summed over tasks (CPU time across workers, not wall time)
    embed_seconds: float = 0.0  # summed over actors
    write_seconds: float = 0.0  # the driver's store reads and writes
    chunks_per_second: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


def read_repo_list(list_file: Path) -> list[Path]:
    """One repository path per line; blank lines and `#` comments skipped; relative to the list's folder."""
    try:
        lines = Path(list_file).read_text().splitlines()
    except OSError as exc:
        raise UserInputError(f"cannot read repository list {list_file}: {exc.strerror or exc}") from None
    base = Path(list_file).resolve().parent
    return [base / line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def name_repositories(paths: list[Path]) -> list[tuple[str, str]]:
    """(name, absolute path) per repository: the folder's name, which must be unique in one store run."""
    out: dict[str, str] = {}
    for p in paths:
        p = Path(p).expanduser()
        if not p.is_dir():
            raise UserInputError(f"not a directory: {p}")
        p = p.resolve()
        if p.name in out and out[p.name] != str(p):
            raise UserInputError(f"two repositories are named '{p.name}' ({out[p.name]} and {p}); "
                                 "index them into separate stores or rename one folder")
        out[p.name] = str(p)
    if not out:
        raise UserInputError("no repositories given: pass paths or --list FILE")
    return list(out.items())


def _embed_actor(ray, gpus: float):
    @ray.remote(num_cpus=0 if gpus else 1, num_gpus=gpus)
    class EmbedActor:
        """Loads the model once; embeds batches of texts for the driver."""

        def __init__(self, model: str) -> None:
            from codequarry.embed.encoder import load_encoder

            self.encoder = load_encoder(model)

        def info(self) -> tuple[str, int]:
            return self.encoder.name, self.encoder.dim

        def embed(self, texts: list[str]):
            started = time.perf_counter()
            vecs = self.encoder.encode_passages(texts)
            return vecs, time.perf_counter() - started

    return EmbedActor


@dataclass(slots=True)
class _Job:
    stats: RepoStats
    parsed: ParsedRepo
    stale: list[str]
    pending: int = 0


def index_organisation(
    paths: list[Path],
    store_uri: str,
    *,
    model: str | None = None,
    address: str | None = None,
    workers: int = 1,
    force: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    exclude: tuple[str, ...] = (),
    on_repo: Callable[[RepoStats, int, int], None] | None = None,
) -> OrgIndexStats:
    """Index (or incrementally update) each repository in `paths` into the store at `store_uri`."""
    from codequarry.store.open import open_store, store_kind

    if workers < 1:
        raise UserInputError("--workers must be at least 1")
    check_options(max_bytes, tuple(exclude))
    store_kind(store_uri)  # a --store naming no kind of store fails before Ray starts
    repos = name_repositories(paths)
    started = time.perf_counter()
    # The store opens after Ray has started its processes: forking beside gRPC's threads is what
    # Ray's start does, and gRPC complains about it on stderr.
    with ray_runtime(address, workers) as ray:
        store = open_store(store_uri)
        try:
            model_name = resolve_model(model).name if model or store.model is None else store.model
            if store.model is not None and model_name != store.model:
                store.bind(model_name, store.dim)  # raises the mismatch error before any work
            stats = OrgIndexStats(store=store_uri, model=model_name, workers=workers)
            _run(ray, store, repos, stats, force, max_bytes, tuple(exclude), on_repo)
        finally:
            store.close()
    stats.seconds = round(time.perf_counter() - started, 3)
    for name in ("parse_seconds", "embed_seconds", "write_seconds"):
        setattr(stats, name, round(getattr(stats, name), 3))
    stats.chunks_per_second = round(stats.chunks / stats.seconds, 1) if stats.seconds else 0.0
    return stats


def _get(ray, ref):
    """ray.get, with a QuarryError raised inside a task re-raised as itself (one line, right exit code)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, QuarryError):
            raise cause from None
        raise
    except ray.exceptions.RayActorError as exc:
        cause = getattr(exc, "cause", None) or exc
        if isinstance(cause, ray.exceptions.RayTaskError) and isinstance(getattr(cause, "cause", None), QuarryError):
            raise cause.cause from None
        raise


def _run(ray, store, repos, stats: OrgIndexStats, force, max_bytes, exclude, on_repo) -> None:
    resources = ray.cluster_resources()
    gpus = 1.0 if resources.get("GPU", 0) >= stats.workers else 0.0
    cpus = int(resources.get("CPU", 0))
    if not gpus and cpus < stats.workers + 1:
        # Ray would queue the parse tasks behind actors that never finish: a hang, not an error.
        raise UserInputError(f"the Ray runtime has {cpus} CPU(s); --workers {stats.workers} needs "
                             f"{stats.workers + 1} (one per embedding actor, at least one for parsing)")
    Actor = _embed_actor(ray, gpus)
    actors = [Actor.remote(stats.model) for _ in range(stats.workers)]
    _, dim = _get(ray, actors[0].info.remote())  # the model loads (or fails) before any parsing
    store.bind(stats.model, dim)
    parse = ray.remote(num_cpus=1)(parse_repository)
    parser = parser_version(DEFAULT_TEXT_FORMAT)
    records = store.repositories()
    todo = deque(repos)
    parse_refs: dict = {}
    embed_refs: dict = {}
    jobs: dict[str, _Job] = {}
    done = 0
    turn = 0

    def finish(job: _Job) -> None:
        nonlocal done
        t = time.perf_counter()
        job.stats.removed = store.delete(job.stale)
        store.set_repository(job.stats.name, job.stats.path, job.stats.chunks, files=job.parsed.states,
                             gone=job.parsed.gone, parser=parser)
        stats.write_seconds += time.perf_counter() - t
        stats.removed += job.stats.removed
        stats.repos.append(job.stats)
        done += 1
        if on_repo:
            on_repo(job.stats, done, len(repos))

    while todo or parse_refs or embed_refs:
        while todo and len(parse_refs) < PARSE_AHEAD * stats.workers and len(embed_refs) < EMBED_AHEAD * len(actors):
            rname, rpath = todo.popleft()
            t = time.perf_counter()
            known = store.file_states(rname)
            stats.write_seconds += time.perf_counter() - t
            # Chunks depend on the chunker and the text format too: a new one re-chunks every file.
            rechunk = force or records.get(rname, {}).get("parser") != parser
            ref = parse.remote(rname, rpath, max_bytes=max_bytes, exclude=exclude, text_format=DEFAULT_TEXT_FORMAT,
                               known=known, rechunk=rechunk)
            parse_refs[ref] = rname
        ready, _ = ray.wait([*parse_refs, *embed_refs], num_returns=1)
        ref = ready[0]
        if ref in parse_refs:
            del parse_refs[ref]
            parsed: ParsedRepo = _get(ray, ref)
            stats.parse_seconds += parsed.seconds
            job, batches = _plan(store, parsed, force, stats)
            jobs[parsed.name] = job
            for batch in batches:
                actor = actors[turn % len(actors)]
                turn += 1
                texts = [chunk_text(members[0][1], DEFAULT_TEXT_FORMAT) for _, members in batch]
                embed_refs[actor.embed.remote(texts)] = (job, batch)
                job.pending += 1
            if job.pending == 0:
                finish(job)
        else:
            job, batch = embed_refs.pop(ref)
            vecs, seconds = _get(ray, ref)
            stats.embed_seconds += seconds
            t = time.perf_counter()
            store.add([ChunkRow(cid, job.stats.name, c, h, v) for (h, members), v in zip(batch, vecs)
                       for cid, c in members], replace=force)
            stats.write_seconds += time.perf_counter() - t
            # One text embedded per hash; its other chunks (copies of one text) count as reused.
            copies = sum(len(members) - 1 for _, members in batch)
            job.stats.embedded += len(batch)
            job.stats.reused += copies
            stats.embedded += len(batch)
            stats.reused += copies
            job.pending -= 1
            if job.pending == 0:
                finish(job)


def _plan(store, parsed: ParsedRepo, force: bool, stats: OrgIndexStats):
    """What one repository needs: rows to keep, vectors to copy, texts to embed (in batches), ids to drop."""
    t = time.perf_counter()
    rs = RepoStats(parsed.name, parsed.path, parsed.files_seen, parsed.files_parsed, parsed.files_unchanged,
                   len(parsed.gone), parse_seconds=parsed.seconds)
    everything = store.stored_chunks(parsed.name)  # id → (file, text hash)
    # Chunks of files the parse task found unchanged stand as they are; it did not chunk those files.
    standing = {cid for cid, (f, _) in everything.items() if f in parsed.unchanged}
    stored = {} if force else {cid: h for cid, (_, h) in everything.items()}
    wanted: dict[str, tuple] = {}
    for c, h in parsed.chunks:
        wanted.setdefault(chunk_id(parsed.name, c, h), (c, h))
    new = {cid: v for cid, v in wanted.items() if cid not in stored}
    rs.kept = len(wanted) - len(new) + len(standing)
    by_hash = {h: cid for cid, h in stored.items()}
    copy = {cid: v for cid, v in new.items() if v[1] in by_hash}
    vecs: dict = {}
    if copy:
        vecs = store.vectors([by_hash[h] for _, h in copy.values()])
        rows = [ChunkRow(cid, parsed.name, c, h, vecs[by_hash[h]]) for cid, (c, h) in copy.items()
                if by_hash[h] in vecs]
        store.add(rows, replace=force)  # ids not stored unless --force
        rs.reused = len(rows)
    need: dict[str, list] = {}  # text hash → the chunks that need its vector
    for cid, (c, h) in new.items():
        if cid not in copy or by_hash[h] not in vecs:
            need.setdefault(h, []).append((cid, c))
    # Longest texts together: a transformer pads each batch to its longest member.
    todo = sorted(need.items(), key=lambda item: len(item[1][0][1].code))
    batches = [todo[i : i + EMBED_BATCH] for i in range(0, len(todo), EMBED_BATCH)]
    # Under --force rows under the same id are replaced; either way a stored chunk no parsed file
    # produced, and no unchanged file holds, is stale (edited, removed, or left by a killed run).
    stale = [cid for cid in everything if cid not in wanted and cid not in standing]
    stats.write_seconds += time.perf_counter() - t
    rs.chunks = len(wanted) + len(standing)
    stats.chunks += rs.chunks
    stats.kept += rs.kept
    stats.reused += rs.reused
    stats.files_parsed += rs.files_parsed
    stats.files_unchanged += rs.files_unchanged
    return _Job(rs, parsed, stale), batches


def print_progress(rs: RepoStats, done: int, total: int) -> None:
    print(f"[{done}/{total}] {rs.name}: {rs.chunks} chunks ({rs.embedded} embedded, {rs.reused} reused, "
          f"{rs.kept} kept, {rs.removed} removed); {rs.files_parsed} files parsed, {rs.files_unchanged} unchanged, "
          f"{rs.files_removed} removed", file=sys.stderr, flush=True)
