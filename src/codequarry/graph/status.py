"""`quarry status`: what the index holds, and whether it is behind the working tree.

Behind means a file the indexer would read is new, gone, or has another size
or mtime than the index recorded (the indexer records both, and refreshes
them when only the mtime moved). That takes a stat walk with the indexer's
own walker (the same ignore rules); only files missing from the index are
read, to leave out those the indexer skips (binary, minified). Files the last
run was told to exclude (--exclude, --max-bytes) show up as new: the walk
uses the default options.
"""

from __future__ import annotations

from pathlib import Path

from codequarry.store.db import IndexDB

from .model import IndexStatus, SlotStatus
from .query import opened

def status(*, repo: Path | None = None, index_dir: Path | None = None, db: IndexDB | None = None,
           walk_tree: bool = True) -> IndexStatus:
    with opened(repo, index_dir, db) as idx:
        conn = idx.conn
        folder = idx.folder
        root = Path(idx.get_meta("repo_root") or (Path(repo).resolve() if repo else folder.parent))
        by_lang = tuple(conn.execute(
            "SELECT language, count(*) FROM chunks GROUP BY language ORDER BY count(*) DESC, language").fetchall())
        generation = idx.chunks_generation
        slots = tuple(SlotStatus(s["name"], s["model"], s["dim"], s["default"],
                                 s["chunks_generation"] != generation, idx.coverage(s)[0]) for s in idx.slots())
        edges = tuple(conn.execute(
            "SELECT status, count(*) FROM (SELECT DISTINCT chunk_id, callee, receiver, status FROM call_targets) "
            "GROUP BY status ORDER BY status").fetchall())
        known = {path: (size, mtime) for path, size, mtime in conn.execute("SELECT path, size, mtime_ns FROM files")}
        new, changed, deleted = _compare(root, known) if walk_tree and root.is_dir() else ((), (), ())
        size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) if folder.is_dir() else 0
        return IndexStatus(
            repo=str(root), index_dir=str(folder), files=len(known), chunks=sum(n for _, n in by_lang),
            chunks_by_language=by_lang, slots=slots, index_bytes=size,
            last_run=idx.get_meta("last_indexed"), edges=edges,
            new_files=new, changed_files=changed, deleted_files=deleted,
        )


def _indexable(text: str | None, skip_by_content) -> bool:
    return text is not None and skip_by_content(text) is None


def _compare(root: Path, known: dict[str, tuple[int, int]]) -> tuple[tuple[str, ...], ...]:
    from codequarry.chunk.skips import skip_by_content, skip_by_name
    from codequarry.walk import read_source, walk

    new, changed, seen = [], [], set()
    for sf in walk(root):
        if skip_by_name(sf.rel) is not None:  # the indexer's own rule: every text file but these
            continue
        seen.add(sf.rel)
        have = known.get(sf.rel)
        if have is None:
            new.append(sf.rel)
        elif have != (sf.size, sf.mtime_ns):
            changed.append(sf.rel)
    # A file the indexer read and skipped (binary, minified, undecodable) is not new: it never will be
    # indexed. Only new files are read, and only to tell that.
    new = [rel for rel in new if _indexable(read_source(root / rel)[0], skip_by_content)]
    deleted = sorted(p for p in known if p not in seen)
    return tuple(sorted(new)), tuple(sorted(changed)), tuple(deleted)
