import pytest

from codequarry.chunk import CHUNKER_VERSION, LANGUAGES, language_for
from codequarry.chunk.languages import parser_for


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("src/app.py", "python"),
        ("stubs/app.pyi", "python"),
        ("cmd/main.go", "go"),
        ("src/main/java/Store.java", "java"),
        ("web/app.js", "javascript"),
        ("web/App.jsx", "javascript"),
        ("web/app.mjs", "javascript"),
        ("web/app.cjs", "javascript"),
        ("web/app.ts", "typescript"),
        ("web/app.mts", "typescript"),
        ("web/app.cts", "typescript"),
        ("web/App.tsx", "tsx"),
        ("site/index.php", "php"),
        ("lib/store.rb", "ruby"),
        ("Rakefile", "ruby"),
        ("src/lib.rs", "rust"),
        ("ann/hnsw.cpp", "cpp"),
        ("ann/hnsw.cc", "cpp"),
        ("ann/hnsw.cxx", "cpp"),
        ("ann/hnsw.hpp", "cpp"),
        ("include/util.h", "c"),  # without its text a header is taken for C (see test_chunk_header.py)
        ("src/util.c", "c"),
        ("scripts/build.sh", "shell"),
        ("scripts/build.bash", "shell"),
        ("home/.bashrc", "shell"),
        ("README.md", "markdown"),
        ("docs/guide.markdown", "markdown"),
        ("db/schema.sql", "sql"),
        ("SRC/APP.PY", "python"),
        ("src/Store.cs", "csharp"),
        ("app/src/main/kotlin/Store.kt", "kotlin"),
        ("build.gradle.kts", "gradle"),
        ("scripts/setup.kts", "kotlin"),
        ("src/main/scala/Store.scala", "scala"),
        ("build.sbt", "scala"),
        ("Sources/Store/Store.swift", "swift"),
        ("lib/plug/conn.ex", "elixir"),
        ("test/conn_test.exs", "elixir"),
        ("src/Data/Store.hs", "haskell"),
        ("lua/store.lua", "lua"),
        ("src/store.zig", "zig"),
        ("build.zig.zon", "zig"),
        ("docs/index.rst", "rst"),
        ("notes.txt", "text"),
        ("config.yaml", "yaml"),
        (".github/workflows/ci.yml", "yaml"),
        ("pyproject.toml", "toml"),
        ("data.json", "json"),
        ("setup.cfg", "ini"),
        ("templates/index.html", "html"),
        ("pom.xml", "xml"),
        ("static/site.css", "css"),
        ("Dockerfile", "dockerfile"),
        ("docker/Dockerfile.dev", "dockerfile"),
        ("Makefile", "makefile"),
        ("rules.mk", "makefile"),
        ("CMakeLists.txt", "cmake"),
        ("cmake/FindFoo.cmake", "cmake"),
        ("build.gradle", "gradle"),
        ("api/store.proto", "protobuf"),
        ("schema.graphql", "graphql"),
    ],
)
def test_language_by_extension_or_name(path, language):
    assert language_for(path) == language


@pytest.mark.parametrize("path", ["LICENSE", "a.xyz", "logo.png", "a.pyc"])
def test_files_of_no_known_type_have_no_language(path):
    assert language_for(path) is None  # chunk_file calls the text ones `text`; skips.py skips binaries


def test_every_name_the_tables_give_is_a_known_language():
    from codequarry.chunk.languages import _INTERPRETERS, EXTENSIONS, FENCE_ALIASES, FILENAMES

    given = {*EXTENSIONS.values(), *FILENAMES.values(), *_INTERPRETERS.values(), *FENCE_ALIASES.values()}
    assert given - {None} <= set(LANGUAGES)
    assert {"yaml", "toml", "json", "html", "dockerfile", "makefile", "rst", "text", "csharp", "zig"} <= set(LANGUAGES)


@pytest.mark.parametrize("lang", ["csharp", "kotlin", "scala", "swift", "elixir", "haskell", "lua", "zig"])
def test_new_grammars_load(lang):
    assert parser_for(lang).parse(b"x").root_node is not None


@pytest.mark.parametrize(
    ("head", "language"),
    [
        ("#!/usr/bin/env bash\nset -e\n", "shell"),
        ("#!/bin/sh\n", "shell"),
        ("#!/usr/bin/python3.11 -u\n", "python"),
        ("#!/usr/bin/env -S node --no-warnings\n", "javascript"),
        ("#!/usr/bin/perl\n", "perl"),
        ("#!/usr/bin/env lua5.4\n", "lua"),
        ("#!/usr/bin/awk -f\n", None),
        ("print('no shebang')\n", None),
    ],
)
def test_extensionless_scripts_by_shebang(head, language):
    assert language_for("bin/tool", head) == language


def test_shebang_does_not_override_an_extension():
    assert language_for("tool.txt", "#!/bin/sh\n") == "text"
    assert language_for("tool.py", "#!/bin/sh\n") == "python"


def test_chunker_version_is_a_nonempty_string():
    assert isinstance(CHUNKER_VERSION, str) and CHUNKER_VERSION
