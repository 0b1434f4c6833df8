"""Embed less, faster: what each option saves and costs, on the repository fixture's DEV half only.

Options (issue 14), each against today's default (`minilm`, fp32 ONNX, max 256 tokens, every
chunk embedded):

* B `int8`: the `minilm-int8` preset (the same weights as int8 ONNX);
* O `openvino`: the fp32 export on OpenVINO at its default precision (bf16 on this CPU), what `auto`
  runs with the `openvino` extra; slot model `minilm-ov` here, so its vectors never mix with A's;
* C `seq128`: the encoder's maximum sequence cut to 128 tokens (its own model name,
  `minilm-seq128`, so its vectors never share a slot or cache rows with `minilm`'s);
* D `nowin`: no vector for a window of a definition whose head is embedded already. A chunk
  with `parent` P (a window of a long definition, or a piece of a long container between its
  members) is left out of the dense leg when its file has an earlier chunk (lower line_start)
  whose definition key is P — key = `parent` if set, else `qualname`. So a long function keeps
  its first window (header, doc, start of the body), a long class keeps its skeleton chunk, and
  the rest of their windows are lexical-only;
* E `noprose`: no vector for prose (`rules.is_doc`: Markdown/reST/text, README-like files) nor
  for vendored code (`rules.is_vendor_path`). Generated files never reach the index
  (chunk/skips.py), so there is nothing more to skip for them;
* by path (search/rules.py, the rules that already down-weight these files at query time):
  T `notests` no vector for test code (`is_test_path`), X `noexamples` for example, demo,
  benchmark and docs-folder code (`is_example_path`), S `noshims` for declaration files and
  compatibility shims (`is_declaration_path`, `is_shim_path`).

Every combination of B, C, D, E is scored as well (16 variants with the baseline), plus D's two
halves alone — W (windows 2..n of a definition split into windows) and P (pieces of a long
container after its skeleton) — and E+P, B+E+P; the path rules alone and on top of E+P (T, X,
S, E+P+T, E+P+X, E+P+S, E+P+X+S, E+P+T+X, E+P+T+X+S). Options that only leave chunks out need no
new vectors: their slots are subsets of the baseline's.

How, without re-implementing search: the dev repositories' `minilm` indexes built by
bench/semble_compare.py (~/.cache/codequarry/semble_compare/<repo>-minilm) are copied — never
modified — into --work; each variant becomes a side-by-side slot of that copy holding its own
vector file, searched with the product's `Searcher` (hybrid, the default mode). A chunk a
variant leaves out of the dense leg simply has no vector in its slot, and the slot records
how many it covers (`embedded`), so search scores it lexical-only exactly as it does while
`quarry index` is still embedding (Searcher._unembedded → fusion). int8 vectors are computed
for every chunk text; a 128-token vector differs from the 256-token one only for texts longer
than 128 tokens (shorter ones are the same input), so only those are re-embedded for C.

Embedding speed: one seeded sample of the dev chunk texts (--sample), each variant encoding the
part of it that it embeds with its own encoder, variants interleaved over --rounds rounds under
the same load; seconds for the whole dev set = sample seconds × (dev texts / sample texts).

Quality: file-level nDCG@10 and definition R@1/R@5 (bench/semble_compare.py's scoring: k=20
chunks, a chunk names a definition when qualname or parent is the gold name), macro over
queries, overall and per category, with the paired difference against the baseline and a
paired-bootstrap 95% interval. The issue's rule: keep only what loses <= 0.005 nDCG@10.

    QUARRY_REPOS_DIR=/work/repos .venv/bin/python bench/embed_less.py            # vectors, eval, timing
    ... --phase vectors | eval | timing                                            # one phase
    ... --phase eval --variants T,X,E+P+T                  # only these variants (and the baseline A)
Writes bench/out/embed_less.json. Never reads a fixture's test half.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import semble_compare as sc  # noqa: E402  (its fixture loading and scoring, so both agree)

RULE = 0.005  # the tolerance on nDCG@10
OPTIONS = ("B", "C", "D", "E")
LABELS = {"B": "int8", "O": "openvino", "C": "seq128", "D": "nowin", "E": "noprose", "W": "nowin-split", "P": "nowin-pieces",
          "T": "notests", "X": "noexamples", "S": "noshims"}
SKIPS = ("D", "E", "W", "P", "T", "X", "S")  # the options that leave chunks out (see skip_masks)
# Vector sets: (ONNX variant, max tokens) → the model name its slot records.
ENCODINGS = {("fp32", 256): "minilm", ("int8", 256): "minilm-int8", ("fp32", 128): "minilm-seq128",
             ("int8", 128): "minilm-int8-seq128", ("ov", 256): "minilm-ov"}
SHORT = 128


@dataclass(frozen=True, slots=True)
class Variant:
    options: tuple[str, ...]

    @property
    def name(self) -> str:
        return "A" if not self.options else "+".join(self.options)

    @property
    def label(self) -> str:
        return "baseline" if not self.options else "+".join(LABELS[o] for o in self.options)

    @property
    def encoding(self) -> tuple[str, int]:
        engine = "ov" if "O" in self.options else "int8" if "B" in self.options else "fp32"
        return (engine, SHORT if "C" in self.options else 256)

    @property
    def model(self) -> str:
        return ENCODINGS[self.encoding]

    @property
    def slot(self) -> str:
        return "v-" + (self.name.replace("+", "").lower() if self.options else "a")


VARIANTS = [Variant(tuple(c)) for n in range(len(OPTIONS) + 1) for c in itertools.combinations(OPTIONS, n)]
# D's two halves alone (see window_kinds), to see which one costs what D costs.
VARIANTS += [Variant(("W",)), Variant(("P",)), Variant(("E", "P")), Variant(("B", "E", "P"))]
# Another runtime for the same fp32 export, alone and with what the product leaves out (P).
VARIANTS += [Variant(("O",)), Variant(("O", "P"))]
# The path rules, alone and on top of what the product leaves out already (E+P).
VARIANTS += [Variant(tuple(n.split("+"))) for n in ("T", "X", "S", "E+P+T", "E+P+X", "E+P+S",
                                                   "E+P+X+S", "E+P+T+X", "E+P+T+X+S")]


def select_variants(spec: str | None) -> list[Variant]:
    """The variants named in `spec` (comma-separated names, say "T,E+P+T"), always with the baseline
    A first (every variant is paired against it); all of them when `spec` is empty."""
    if not spec:
        return list(VARIANTS)
    by_name = {v.name: v for v in VARIANTS}
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    return [by_name["A"]] + [by_name[n] for n in dict.fromkeys(names) if n != "A"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- encoders

_ENCODERS: dict = {}


def encoder(encoding: tuple[str, int]):
    """The product's ONNX encoder for (variant, max tokens), named after its vector set."""
    if encoding not in _ENCODERS:
        from codequarry.embed.onnx_backend import OnnxEncoder
        from codequarry.embed.presets import PRESETS

        variant, tokens = encoding
        base = PRESETS["minilm-int8" if variant == "int8" else "minilm"]
        enc = OnnxEncoder(base, "fp32", runtime="openvino") if variant == "ov" else OnnxEncoder(base, variant)
        if tokens != enc.max_tokens:  # what OnnxEncoder.__init__ does with a preset's max_tokens
            from codequarry.embed.onnx_backend import _tokenizer

            enc.max_tokens = tokens
            enc.tokenizer = _tokenizer(enc.layout, tokens)
        enc.name = ENCODINGS[encoding]
        _ENCODERS[encoding] = enc
    return _ENCODERS[encoding]


def token_counts(texts: list[str]) -> np.ndarray:
    """Tokens each text gives the 256-token encoder (special tokens included, as encoded)."""
    enc = encoder(("fp32", 256))
    if enc.layout.do_lower_case:
        texts = [t.lower() for t in texts]
    return np.array([len(e.ids) for e in enc.tokenizer.encode_batch(texts)])


# --------------------------------------------------------------------------- the dev indexes

def baseline_dir(cache: Path, repo: str) -> Path:
    return cache / f"{repo}-minilm"


def check_baseline(folder: Path) -> str | None:
    """Why the semble_compare index cannot be reused (None: it can): current chunker, whole slot."""
    from codequarry.chunk import CHUNKER_VERSION
    from codequarry.embed.text import DEFAULT_TEXT_FORMAT
    from codequarry.store.db import IndexDB

    if not (folder / "index.db").is_file():
        return "missing"
    db = IndexDB(folder, readonly=True)
    try:
        if db.get_meta("chunker_version") != CHUNKER_VERSION:
            return f"chunker {db.get_meta('chunker_version')} != {CHUNKER_VERSION}"
        if db.get_meta("text_format", DEFAULT_TEXT_FORMAT) != DEFAULT_TEXT_FORMAT:
            return "text format"
        s = db.slot(db.default_slot())
        if s is None or s["model"] != "minilm" or s["embedded"] is not None:
            return "slot not a complete minilm slot"
        if s["chunks_generation"] != db.chunks_generation:
            return "slot behind the chunks"
    finally:
        db.close()
    return None


def working_copy(cache: Path, work: Path, repo: str) -> Path:
    """A copy of the baseline index (index.db and its current vector file) to add slots to."""
    src, dst = baseline_dir(cache, repo), work / "index" / repo
    if (dst / "index.db").is_file() and _stamp(dst) != _stamp(src):
        shutil.rmtree(dst)  # the baseline was rebuilt (say a new chunker): copy it again
    if not (dst / "index.db").is_file():
        why = check_baseline(src)
        if why:
            raise SystemExit(f"{src}: cannot reuse ({why}); run bench/semble_compare.py --split dev first")
        tmp = dst.with_name(dst.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for f in src.iterdir():
            if f.name == "index.db" or f.suffix == ".faiss":
                shutil.copy2(f, tmp / f.name)
        shutil.rmtree(dst, ignore_errors=True)
        tmp.rename(dst)
    return dst


def _stamp(folder: Path) -> tuple:
    """What identifies an index build: chunker, chunk generation, the slot's vector file."""
    from codequarry.store.db import IndexDB

    db = IndexDB(folder, readonly=True)
    try:
        s = db.slot(db.default_slot()) or {}
        return db.get_meta("chunker_version"), db.chunks_generation, s.get("checksum")
    finally:
        db.close()


def chunk_table(folder: Path) -> tuple[list[int], list, list[str], dict[str, str]]:
    """(chunk ids, chunks, text hashes, text by hash) of an index, in id order."""
    from codequarry.domain import content_hash
    from codequarry.embed.text import DEFAULT_TEXT_FORMAT, chunk_text
    from codequarry.store.db import IndexDB

    db = IndexDB(folder, readonly=True)
    try:
        stored = dict(db.conn.execute("SELECT id, text_hash FROM chunks").fetchall())
        ids, chunks, hashes, texts = [], [], [], {}
        for cid, c in db.iter_chunks():
            t = chunk_text(c, DEFAULT_TEXT_FORMAT)
            h = content_hash(t)
            if h != stored[cid]:  # the text this bench embeds must be the one the indexer embedded
                raise SystemExit(f"{folder}: chunk {cid}'s text does not match its stored hash")
            ids.append(cid)
            chunks.append(c)
            hashes.append(h)
            texts[h] = t
    finally:
        db.close()
    return ids, chunks, hashes, texts


# --------------------------------------------------------------------------- the skip rules

def skip_windows(chunks) -> np.ndarray:
    """Rule D (see the module doc): True for a chunk whose definition already has an earlier chunk."""
    split, pieces = window_kinds(chunks)
    return split | pieces


def window_kinds(chunks) -> tuple[np.ndarray, np.ndarray]:
    """Rule D's chunks in two parts: windows 2..n of a definition split into windows (its first
    chunk is a window too: `parent` set), and pieces of a long container between its members
    (its first chunk is its skeleton: no `parent`)."""
    order = sorted(range(len(chunks)), key=lambda i: (chunks[i].file, chunks[i].line_start, -chunks[i].line_end))
    split, pieces = np.zeros(len(chunks), bool), np.zeros(len(chunks), bool)
    head: dict[tuple[str, str], bool] = {}  # definition key → its first chunk had no parent (a skeleton)
    for i in order:
        c = chunks[i]
        key = (c.file, c.parent) if c.parent else None
        if key is not None and key in head:
            (pieces if head[key] else split)[i] = True
        head.setdefault((c.file, c.parent or c.qualname), not c.parent)
    return split, pieces


def skip_prose(chunks) -> np.ndarray:
    """Rule E: prose and vendored chunks."""
    from codequarry.search.rules import is_doc, is_vendor_path

    return np.array([is_doc(c) or is_vendor_path(c.file) for c in chunks], bool)


def skip_paths(chunks) -> dict[str, np.ndarray]:
    """Rules T, X, S: test code, example code, declaration files and shims, by path."""
    from codequarry.search.rules import is_declaration_path, is_example_path, is_shim_path, is_test_path

    return {"T": np.array([is_test_path(c.file) for c in chunks], bool),
            "X": np.array([is_example_path(c.file) for c in chunks], bool),
            "S": np.array([is_declaration_path(c.file) or is_shim_path(c.file) for c in chunks], bool)}


def skip_masks(chunks) -> dict[str, np.ndarray]:
    """Every leave-out option's chunks (True: no vector), by option letter."""
    split, pieces = window_kinds(chunks)
    return {"D": split | pieces, "E": skip_prose(chunks), "W": split, "P": pieces, **skip_paths(chunks)}


def kept(variant: Variant, masks: dict[str, np.ndarray], n: int) -> np.ndarray:
    keep = np.ones(n, bool)
    for o in SKIPS:
        if o in variant.options:
            keep &= ~masks[o]
    return keep


# --------------------------------------------------------------------------- phase 1: vectors

def vector_file(work: Path, repo: str, model: str) -> Path:
    return work / "vectors" / f"{repo}.{model}.npz"


def compute_vectors(repo: str, folder: Path, work: Path, wanted: set[tuple[str, int]]) -> dict:
    """Per-text vectors of the `wanted` non-baseline encodings, saved as npz (hashes, vectors)."""
    from codequarry.store.db import IndexDB

    ids, chunks, hashes, texts = chunk_table(folder)
    order = sorted(texts)
    tokens = dict(zip(order, token_counts([texts[h] for h in order])))
    db = IndexDB(folder, readonly=True)
    try:
        base_ids, base_vecs = db.slot_vectors("minilm", 384)
    finally:
        db.close()
    hash_of = dict(zip(ids, hashes))
    base = {hash_of[i]: v for i, v in zip(base_ids.tolist(), base_vecs)}
    info = {"texts": len(order), "long_texts": sum(1 for h in order if tokens[h] > SHORT)}
    # A SHORT encoding reuses its 256-token sibling's vectors, so that one comes first (dict order).
    needed = set(wanted) | {(v, 256) for v, n in wanted if n == SHORT and v != "fp32"}
    for variant, n_tok in ENCODINGS:
        if (variant, n_tok) == ("fp32", 256) or (variant, n_tok) not in needed:
            continue
        model = ENCODINGS[(variant, n_tok)]
        path = vector_file(work, repo, model)
        # Vectors are per text: what an earlier run (an older chunker) embedded is reused.
        done = load_vectors(work, repo, model) if path.is_file() else {}
        if all(h in done for h in order):
            continue
        # A text of at most SHORT tokens is the same input at either length: reuse its vector.
        if n_tok == SHORT:
            ref = base if variant == "fp32" else load_vectors(work, repo, ENCODINGS[(variant, 256)])
            todo = [h for h in order if tokens[h] > SHORT and h not in done]
            have = {h: done.get(h, ref[h]) for h in order if tokens[h] <= SHORT or h in done}
        else:
            todo = [h for h in order if h not in done]
            have = {h: done[h] for h in order if h in done}
        enc = encoder((variant, n_tok))
        t = time.perf_counter()
        vecs = enc.encode_passages([texts[h] for h in todo]) if todo else np.zeros((0, 384), np.float32)
        secs = time.perf_counter() - t
        have.update(zip(todo, vecs))
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, hashes=np.array(order), vectors=np.stack([have[h] for h in order]).astype(np.float32))
        info[model] = {"embedded": len(todo), "seconds": round(secs, 2)}
        log(f"{repo}: {model} {len(todo)} texts in {secs:.1f}s")
    return info


def load_vectors(work: Path, repo: str, model: str) -> dict[str, np.ndarray]:
    with np.load(vector_file(work, repo, model)) as z:
        return dict(zip(z["hashes"].tolist(), z["vectors"]))


# --------------------------------------------------------------------------- phase 2: slots and eval

def publish_slot(folder: Path, slot: str, model: str, ids: np.ndarray, vecs: np.ndarray, total: int) -> None:
    """Point `slot` at a vector file of `ids` — what indexer._Publisher writes, left partial
    (embedded = len(ids)) when the variant leaves chunks out of the dense leg."""
    from codequarry.store import vectors
    from codequarry.store.db import IndexDB

    db = IndexDB(folder)
    try:
        current = db.slot(slot)
        gen = vectors.next_generation(folder, slot, current["generation"] if current else 0)
        path = vectors.vector_path(folder, slot, gen)
        digest = vectors.write(vectors.build(ids, vecs, vecs.shape[1]), path)
        with db.transaction():
            db.update_slot(slot, model=model, dim=vecs.shape[1], generation=gen,
                           chunks_generation=db.chunks_generation, checksum=digest,
                           embedded=None if len(ids) == total else len(ids))
        vectors.remove_stale(folder, slot, gen)
    finally:
        db.close()


def build_slots(repo: str, folder: Path, work: Path, variants: list[Variant]) -> dict:
    ids, chunks, hashes, _ = chunk_table(folder)
    masks = skip_masks(chunks)
    sets = {"minilm": None}
    out = {"chunks": len(ids), "skip_D": int(masks["D"].sum()), "skip_E": int(masks["E"].sum()),
           "skip_D_split": int(masks["W"].sum()), "skip_D_pieces": int(masks["P"].sum()),
           "skip_DE": int((masks["D"] | masks["E"]).sum()),
           **{f"skip_{o}": int(masks[o].sum()) for o in ("T", "X", "S")}, "variants": {}}
    from codequarry.store.db import IndexDB

    db = IndexDB(folder, readonly=True)
    try:
        base_ids, base_vecs = db.slot_vectors("minilm", 384)
    finally:
        db.close()
    assert base_ids.tolist() == ids
    for v in variants:
        if v.model not in sets:
            sets[v.model] = load_vectors(work, repo, v.model)
        vec = base_vecs if v.model == "minilm" else np.stack([sets[v.model][h] for h in hashes])
        keep = kept(v, masks, len(ids))
        publish_slot(folder, v.slot, v.model, np.array(ids, np.int64)[keep], vec[keep], len(ids))
        out["variants"][v.name] = {"chunks_embedded": int(keep.sum()),
                                   "texts_embedded": len({h for h, k in zip(hashes, keep) if k})}
    return out


def evaluate(repo: sc.Repo, folder: Path, k: int, variants: list[Variant]) -> list[dict]:
    """Every query through every variant's slot, hybrid: semble_compare's per-query scores."""
    from codequarry.search.searcher import Searcher
    from codequarry.store.db import IndexDB

    rows = {q.id: {"id": q.id, "repo": repo.name, "category": q.category, "scores": {}} for q in repo.queries}
    for v in variants:
        s = Searcher(IndexDB(folder), v.slot, encoder(v.encoding))
        try:
            for q in repo.queries:
                hits = [r.chunk for r in s.search(q.text, k=k, mode="hybrid")]
                rows[q.id]["scores"][v.name] = sc.score_query([c.file for c in hits],
                                                              sc.quarry_matches(hits, q, repo.language), q)
        finally:
            s.close()
    return list(rows.values())


def paired(rows: list[dict], name: str, metric: str, rng: np.random.Generator) -> dict:
    pairs = [(r["scores"][name][metric], r["scores"]["A"][metric]) for r in rows
             if r["scores"][name][metric] is not None]
    if not pairs:
        return {}
    a = np.array(pairs, float)
    d = a[:, 0] - a[:, 1]
    boot = d[rng.integers(0, len(d), (2000, len(d)))].mean(axis=1)
    return {"n": len(d), "mean": float(a[:, 0].mean()), "delta": float(d.mean()),
            "ci95": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))],
            "better": int((d > 1e-9).sum()), "worse": int((d < -1e-9).sum())}


def summarise(rows: list[dict], variants: list[Variant]) -> dict:
    out: dict = {}
    groups = {"all": rows}
    for r in rows:
        groups.setdefault(f"category:{r['category']}", []).append(r)
    for g, rs in groups.items():
        out[g] = {}
        for v in variants:
            rng = np.random.default_rng(0)
            out[g][v.name] = {m: paired(rs, v.name, m, rng) for m in sc.METRICS}
    # The fixture harness's own aggregation (eval/multi.py) is macro over repositories.
    per_repo: dict = {}
    for r in rows:
        per_repo.setdefault(r["repo"], []).append(r)
    out["macro_repos"] = {v.name: sum(sc.mean(x["scores"][v.name]["ndcg@10"] for x in rs) for rs in per_repo.values())
                          / len(per_repo) for v in variants}
    return out


# --------------------------------------------------------------------------- phase 3: timing

def timing(repos: list[str], work: Path, sample: int, rounds: int, names: list[str]) -> dict:
    """Each variant encodes its share of one seeded sample of dev texts, interleaved over rounds."""
    pool = []  # (text, chunk) for one chunk per distinct text
    total_texts, kept_texts = 0, {n: 0 for n in names}
    for repo in repos:
        folder = work / "index" / repo
        _, chunks, hashes, texts = chunk_table(folder)
        masks = skip_masks(chunks)
        first: dict[str, int] = {}
        for i, h in enumerate(hashes):
            first.setdefault(h, i)
        total_texts += len(first)
        for n in names:
            keep = kept(Variant(tuple(n.split("+")) if n != "A" else ()), masks, len(chunks))
            kept_texts[n] += len({h for h, k in zip(hashes, keep) if k})
        for h, i in first.items():
            pool.append((texts[h], {o: bool(m[i]) for o, m in masks.items()}))
    rnd = random.Random(14)
    picked = rnd.sample(pool, min(sample, len(pool)))
    variants = [Variant(tuple(n.split("+")) if n != "A" else ()) for n in names]
    for v in variants:  # load and warm every encoder outside the clock
        encoder(v.encoding).encode_passages(["warm up"] * 4)
    secs = {v.name: [] for v in variants}
    for r in range(rounds):
        order = variants if r % 2 == 0 else variants[::-1]
        for v in order:
            texts = [t for t, skip in picked if not any(skip[o] for o in v.options if o in skip)]
            t = time.perf_counter()
            encoder(v.encoding).encode_passages(texts)
            secs[v.name].append(time.perf_counter() - t)
            log(f"timing round {r + 1}: {v.name} {len(texts)} texts {secs[v.name][-1]:.1f}s")
    out = {"sample_texts": len(picked), "dev_texts": total_texts, "rounds": rounds, "variants": {}}
    for v in variants:
        n = sum(1 for _, skip in picked if not any(skip[o] for o in v.options if o in skip))
        s = float(np.median(secs[v.name]))
        out["variants"][v.name] = {
            "sample_texts_embedded": n, "sample_seconds": [round(x, 2) for x in secs[v.name]],
            "texts_per_s": round(n / s, 2), "dev_texts_embedded": kept_texts[v.name],
            "est_dev_seconds": round(s * total_texts / len(picked), 1)}
    return out


# --------------------------------------------------------------------------- the run

def table(summary: dict, slots: dict, tim: dict | None, variants: list[Variant]) -> str:
    chunks = {v.name: sum(s["variants"][v.name]["chunks_embedded"] for s in slots.values()) for v in variants}
    total = sum(s["chunks"] for s in slots.values())
    a = summary["all"]
    w = max([38] + [len(v.name + ' ' + v.label) for v in variants])
    lines = [f"{'variant':{w}} {'chunks':>7} {'emb s':>7} {'txt/s':>6} {'nDCG@10':>8} {'Δ':>7} {'95% CI':>17} "
             f"{'R@1':>6} {'Δ':>7} {'R@5':>6} {'Δ':>7} {'Δrepo':>7} rule"]
    base_macro = summary["macro_repos"]["A"]
    for v in variants:
        m = a[v.name]
        t = (tim or {}).get("variants", {}).get(v.name)
        nd = m["ndcg@10"]
        ok = nd["delta"] >= -RULE
        lines.append(
            f"{v.name + ' ' + v.label:{w}} {chunks[v.name]:>7} "
            f"{(t['est_dev_seconds'] if t else float('nan')):>7.0f} {(t['texts_per_s'] if t else float('nan')):>6.1f} "
            f"{nd['mean']:>8.4f} {nd['delta']:>+7.4f} [{nd['ci95'][0]:+.3f},{nd['ci95'][1]:+.3f}] "
            f"{m['def_r@1']['mean']:>6.3f} {m['def_r@1']['delta']:>+7.3f} "
            f"{m['def_r@5']['mean']:>6.3f} {m['def_r@5']['delta']:>+7.3f} "
            f"{summary['macro_repos'][v.name] - base_macro:>+7.4f} {'ok' if ok else 'LOSES'}")
    lines.append(f"(chunks: dev chunks with a vector, of {total}; emb s: estimated seconds to embed the dev set, "
                 "from the timed sample; Δrepo: nDCG@10 macro over repositories)")
    cats = sorted(g for g in summary if g.startswith("category:"))
    lines.append("\nper category, nDCG@10 Δ vs baseline (n): " + ", ".join(
        f"{c.split(':', 1)[1]} ({summary[c]['A']['ndcg@10']['n']})" for c in cats))
    for v in variants[1:]:
        lines.append(f"  {v.name:12} " + " ".join(f"{summary[c][v.name]['ndcg@10']['delta']:+.4f}" for c in cats))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--phase", choices=("all", "vectors", "eval", "timing"), default="all")
    ap.add_argument("--repo", action="append", default=[], help="only this dev repository (repeatable)")
    ap.add_argument("--baseline-cache", type=Path, default=None,
                    help="semble_compare's index cache (default ~/.cache/codequarry/semble_compare)")
    ap.add_argument("--work", type=Path, default=None, help="copies and vectors (default ~/.cache/codequarry/embed_less)")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--sample", type=int, default=600, help="texts in the timing sample")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--time", default="A,B,C,D,E,P,E+P,B+E+P,B+C,D+E,B+D+E,B+C+D+E",
                    help="variants to time")
    ap.add_argument("--variants", default=None,
                    help="evaluate only these variants, comma-separated (the baseline A always); default all")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "embed_less.json")
    args = ap.parse_args(argv)
    variants = select_variants(args.variants)

    from codequarry.eval.cache import cache_dir

    cache = args.baseline_cache or cache_dir() / "semble_compare"
    work = args.work or cache_dir() / "embed_less"
    repos = sc.load_repos(sc.FIXTURES, "dev", tuple(args.repo))  # the dev half only
    repos.sort(key=lambda r: (baseline_dir(cache, r.name) / "index.db").stat().st_size
               if (baseline_dir(cache, r.name) / "index.db").is_file() else 0)
    prev = json.loads(args.out.read_text()) if args.out.is_file() else {}
    out = {**prev, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "split": "dev",
           "repos": [r.name for r in repos], "rule_ndcg_loss": RULE}
    out.setdefault("load", {})
    if args.phase in ("all", "vectors"):
        out["load"]["vectors_before"] = sc._uptime()
        out["vectors"] = prev.get("vectors", {})
        for r in repos:
            folder = working_copy(cache, work, r.name)
            info = compute_vectors(r.name, folder, work, {v.encoding for v in variants})
            if len(info) > 2:  # something was embedded this run
                out["vectors"][r.name] = info
        out["load"]["vectors_after"] = sc._uptime()
    if args.phase in ("all", "eval"):
        out["load"]["eval"] = sc._uptime()
        slots, rows = {}, []
        for r in repos:
            folder = working_copy(cache, work, r.name)
            log(f"{r.name}: slots and {len(r.queries)} queries × {len(variants)} variants")
            slots[r.name] = build_slots(r.name, folder, work, variants)
            rows += evaluate(r, folder, args.k, variants)
        out["slots"], out["summary"], out["queries"] = slots, summarise(rows, variants), rows
        out["queries_n"], out["variants"] = len(rows), [v.name for v in variants]
    if args.phase in ("all", "timing"):
        out["load"]["timing_before"] = sc._uptime()
        out["timing"] = timing([r.name for r in repos], work, args.sample, args.rounds, args.time.split(","))
        out["load"]["timing_after"] = sc._uptime()
    if "summary" in out and "slots" in out:
        shown = [v for v in VARIANTS if v.name in out["summary"]["all"]]  # what the eval that wrote it ran
        print(table(out["summary"], out["slots"], out.get("timing"), shown))
    print(f"load: {out['load']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
