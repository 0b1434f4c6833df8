import pytest

from codequarry.chunk import CHUNKER_VERSION, language_for


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
        ("include/util.h", "cpp"),  # documented choice: the C++ grammar copes with C headers
        ("src/util.c", "c"),
        ("scripts/build.sh", "shell"),
        ("scripts/build.bash", "shell"),
        ("home/.bashrc", "shell"),
        ("README.md", "markdown"),
        ("docs/guide.markdown", "markdown"),
        ("db/schema.sql", "sql"),
        ("SRC/APP.PY", "python"),
    ],
)
def test_language_by_extension_or_name(path, language):
    assert language_for(path) == language


@pytest.mark.parametrize("path", ["data.json", "logo.png", "Makefile", "notes.txt", "LICENSE", "a.pyc"])
def test_unsupported_files_have_no_language(path):
    assert language_for(path) is None


@pytest.mark.parametrize(
    ("head", "language"),
    [
        ("#!/usr/bin/env bash\nset -e\n", "shell"),
        ("#!/bin/sh\n", "shell"),
        ("#!/usr/bin/python3.11 -u\n", "python"),
        ("#!/usr/bin/env -S node --no-warnings\n", "javascript"),
        ("#!/usr/bin/perl\n", None),
        ("print('no shebang')\n", None),
    ],
)
def test_extensionless_scripts_by_shebang(head, language):
    assert language_for("bin/tool", head) == language


def test_shebang_does_not_override_an_extension():
    assert language_for("tool.txt", "#!/bin/sh\n") is None
    assert language_for("tool.py", "#!/bin/sh\n") == "python"


def test_chunker_version_is_a_nonempty_string():
    assert isinstance(CHUNKER_VERSION, str) and CHUNKER_VERSION
