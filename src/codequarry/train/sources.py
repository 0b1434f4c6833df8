"""Real source code to mine, fetched with the ordinary package clients (never committed).

Each source is one *repository* for the train/eval split: a Debian package
(`apt-get download`, unpacked with `dpkg-deb -x`, no install) or an npm
package (`npm pack`). Large ones keep only the listed sub-folders. The
fetched archive's sha256 and the package version are the provenance every
mined pair carries.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from codequarry.errors import UserInputError


@dataclass(frozen=True)
class Source:
    name: str  # the package name; also the repository name in provenance
    language: str
    kind: str = "deb"  # deb | npm
    # Folders (inside the unpacked package) that hold the code worth mining; "" = all.
    include: tuple[str, ...] = ()
    # A zip inside the package that holds the sources (openjdk's src.zip), and which of its folders to keep.
    inner_zip: str = ""


# What is realistically obtainable from Debian 12 and npm; sizes per language go in the manifest.
SOURCES: tuple[Source, ...] = (
    Source("libpython3.11-stdlib", "python", include=("usr/lib/python3.11",)),
    Source("python3-requests", "python"),
    Source("python3-flask", "python"),
    Source("python3-werkzeug", "python"),
    Source("python3-click", "python"),
    Source("python3-jinja2", "python"),
    Source("golang-1.19-src", "go", include=(
        "usr/share/go-1.19/src/net", "usr/share/go-1.19/src/strings", "usr/share/go-1.19/src/bytes",
        "usr/share/go-1.19/src/os", "usr/share/go-1.19/src/io", "usr/share/go-1.19/src/encoding",
        "usr/share/go-1.19/src/crypto", "usr/share/go-1.19/src/strconv", "usr/share/go-1.19/src/time",
        "usr/share/go-1.19/src/sort", "usr/share/go-1.19/src/path", "usr/share/go-1.19/src/text",
        "usr/share/go-1.19/src/math", "usr/share/go-1.19/src/compress", "usr/share/go-1.19/src/archive",
    )),
    Source("golang-github-spf13-cobra-dev", "go"),
    Source("golang-golang-x-net-dev", "go"),
    Source("golang-github-stretchr-testify-dev", "go"),
    Source("openjdk-17-source", "java", inner_zip="usr/lib/jvm/openjdk-17/lib/src.zip", include=(
        "java.base/java/util", "java.base/java/lang", "java.base/java/io", "java.base/java/nio/file",
        "java.base/java/time", "java.base/java/text", "java.base/java/net",
    )),
    Source("openjdk-17-source/java.sql", "java", inner_zip="usr/lib/jvm/openjdk-17/lib/src.zip", include=(
        "java.sql", "java.net.http", "java.logging", "java.prefs",
    )),
    Source("rust-src", "rust", include=("usr/src/rustc-1.63.0/library/core/src",
                                        "usr/src/rustc-1.63.0/library/std/src",
                                        "usr/src/rustc-1.63.0/library/alloc/src")),
    Source("librust-regex-dev", "rust"),
    Source("librust-clap-dev", "rust"),
    Source("librust-serde-json-dev", "rust"),
    Source("node-express", "javascript"),
    Source("node-commander", "javascript"),
    Source("node-yargs", "javascript"),
    Source("node-lodash", "javascript", include=("usr/share/nodejs/lodash-es",)),
    Source("rxjs", "typescript", kind="npm", include=("package/src",)),
    Source("zod", "typescript", kind="npm", include=("package/src",)),
    Source("php-guzzlehttp-psr7", "php"),
    Source("php-league-commonmark", "php"),
    Source("php-monolog", "php"),
    Source("php-symfony-http-foundation", "php"),
    Source("php-symfony-console", "php"),
    Source("libruby3.1", "ruby", include=("usr/lib/ruby/3.1.0",)),
    Source("ruby-thor", "ruby"),
    Source("ruby-i18n", "ruby"),
    Source("ruby-rack", "ruby"),
    Source("libeigen3-dev", "cpp"),
    Source("libfmt-dev", "cpp"),
    Source("libspdlog-dev", "cpp"),
)


@dataclass
class Fetched:
    name: str
    language: str
    kind: str
    version: str
    archive: str
    sha256: str
    root: str  # the unpacked folder `quarry index` runs on
    files: int = 0
    bytes: int = 0
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _run(cmd: list[str], cwd: Path) -> str:
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True)
    except FileNotFoundError as exc:
        raise UserInputError(f"'{cmd[0]}' is not installed; it is needed to fetch {cmd[-1]}") from exc
    except subprocess.CalledProcessError as exc:
        raise UserInputError(f"{' '.join(cmd)} failed: {exc.stderr.strip()[-300:]}") from exc
    return done.stdout


def _archive(src: Source, downloads: Path, fetch: bool) -> Path:
    package = src.name.split("/")[0]
    pattern = f"{package}_*.deb" if src.kind == "deb" else f"{package}-[0-9]*.tgz"
    found = sorted(downloads.glob(pattern))
    if not found and fetch:
        _run(["apt-get", "download", package] if src.kind == "deb" else ["npm", "pack", package], downloads)
        found = sorted(downloads.glob(pattern))
    if not found:
        raise UserInputError(f"{package}: not downloaded in {downloads} (run with fetching enabled)")
    return found[-1]


def _keep(rel: str, include: tuple[str, ...]) -> bool:
    return not include or any(rel == inc or rel.startswith(inc.rstrip("/") + "/") for inc in include)


def _copy_tree(tmp: Path, dest: Path, include: tuple[str, ...]) -> None:
    for path in sorted(tmp.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue  # Debian packages link shared files; the link target is somewhere else
        rel = path.relative_to(tmp).as_posix()
        if _keep(rel, include):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def fetch_source(src: Source, workdir: Path, *, fetch: bool = True) -> Fetched:
    """Download (if needed) and unpack one source under workdir/src/<name>; idempotent."""
    downloads = workdir / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    archive = _archive(src, downloads, fetch)
    root = workdir / "src" / src.name.replace("/", "__")
    stamp = root / ".quarry-source.json"
    if stamp.is_file():
        return Fetched(**json.loads(stamp.read_text()))
    tmp = workdir / "tmp" / src.name.replace("/", "__")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if src.kind == "deb":
        _run(["dpkg-deb", "-x", str(archive), str(tmp)], workdir)
        version = _run(["dpkg-deb", "-f", str(archive), "Version"], workdir).strip()
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(tmp, filter="data")
        version = json.loads((tmp / "package" / "package.json").read_text()).get("version", "")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    if src.inner_zip:
        with zipfile.ZipFile(tmp / src.inner_zip) as zf:
            for info in zf.infolist():
                if not info.is_dir() and _keep(info.filename, src.include):
                    target = root / info.filename
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(zf.read(info))
    else:
        _copy_tree(tmp, root, src.include)
    shutil.rmtree(tmp, ignore_errors=True)
    files = [p for p in root.rglob("*") if p.is_file()]
    out = Fetched(src.name, src.language, src.kind, version, archive.name, sha256_file(archive), str(root),
                  files=len(files), bytes=sum(p.stat().st_size for p in files))
    stamp.write_text(json.dumps(out.to_json(), indent=1))
    return out


def select_sources(languages: list[str] | None = None, names: list[str] | None = None) -> list[Source]:
    chosen = [s for s in SOURCES if (not languages or s.language in languages) and (not names or s.name in names)]
    if not chosen:
        raise UserInputError("no source matches the given languages/names")
    return chosen
