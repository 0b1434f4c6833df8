"""Every text file is indexed: formats without definitions as windows under their own
language name, reStructuredText by section, `.h` as C or C++ by content; binaries and
generated files are skipped with their reason."""

import pytest

from codequarry.chunk import chunk_file, language_for
from codequarry.chunk.languages import header_language
from codequarry.chunk.skips import skip_by_content, skip_by_name


@pytest.mark.parametrize(
    ("path", "text", "language"),
    [
        ("config/app.yaml", "server:\n  port: 8080\n  host: localhost\n", "yaml"),
        ("pyproject.toml", "[project]\nname = \"demo\"\nversion = \"1.0\"\n", "toml"),
        ("data/users.json", "{\n  \"users\": [\"ada\", \"linus\"]\n}\n", "json"),
        ("setup.cfg", "[metadata]\nname = demo\n", "ini"),
        ("web/index.html", "<html>\n<body><h1>Login</h1></body>\n</html>\n", "html"),
        ("web/site.css", ".login { color: red; }\n", "css"),
        ("Dockerfile", "FROM python:3.11\nRUN pip install demo\nCMD [\"demo\"]\n", "dockerfile"),
        ("Makefile", "build:\n\tcc -o demo main.c\n", "makefile"),
        ("CMakeLists.txt", "project(demo)\nadd_executable(demo main.c)\n", "cmake"),
        ("build.gradle", "plugins { id 'java' }\n", "gradle"),
        ("api/user.proto", "syntax = \"proto3\";\nmessage User { string name = 1; }\n", "protobuf"),
        ("schema.graphql", "type User {\n  name: String\n}\n", "graphql"),
        ("NOTES.txt", "Remember to rotate the signing keys every quarter.\n", "text"),
        ("LICENSE", "Permission is hereby granted, free of charge...\n", "text"),
        ("misc/data.xyz", "some text in a format nobody knows\n", "text"),
    ],
)
def test_text_formats_are_windows_under_their_language(path, text, language):
    got = chunk_file(path, text)
    assert [(c.kind, c.language, c.line_start, c.line_end, c.qualname) for c in got] == [
        ("window", language, 1, text.count("\n"), path)]
    assert got[0].code == text.rstrip("\n")


RST = """\
=========
Demo docs
=========

Intro text.

Install
=======

Run the installer.

From source
-----------

Clone and build.

.. code-block:: python

   print("hi")

Usage
=====

Simple tables are not headings:

=====  =====
col a  col b
=====  =====
"""


def test_rst_sections_by_heading():
    got = [(c.kind, c.name, c.qualname, c.line_start, c.line_end) for c in chunk_file("docs/index.rst", RST)]
    assert got == [
        ("section", "Demo docs", "Demo docs", 1, 5),  # overlined title: its own level
        ("section", "Install", "Demo docs > Install", 7, 10),
        ("section", "From source", "Demo docs > Install > From source", 12, 19),
        ("section", "Usage", "Demo docs > Usage", 21, 28),
    ]
    assert {c.language for c in chunk_file("docs/index.rst", RST)} == {"rst"}


def test_rst_without_headings_is_windows():
    got = chunk_file("CHANGES.rst", "Fixed a crash when the file is empty.\n")
    assert [(c.kind, c.language) for c in got] == [("window", "rst")]


# --- .h: C or C++ by content ------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("#ifndef UTIL_H\n#define UTIL_H\nstruct buf { char *p; };\nint buf_len(const struct buf *b);\n#endif\n",
         "c"),
        ('#ifdef __cplusplus\nextern "C" {\n#endif\nint f(void);\n#ifdef __cplusplus\n}\n#endif\n', "c"),
        ("/* a class of errors: see namespace docs */\nint g(void);  // std::vector would be nicer\n", "c"),
        ("class Index {\npublic:\n  void build();\n};\n", "cpp"),
        ("namespace ann {\nint f();\n}\n", "cpp"),
        ("template <typename T>\nT max(T a, T b);\n", "cpp"),
        ("#include <vector>\nstd::vector<int> ids();\n", "cpp"),
        ('extern "C++" int h();\n', "cpp"),
        ("struct Point {\n private:\n  int x;\n};\n", "cpp"),
        ("enum class Mode { Read, Write };\n", "cpp"),
        ("bool operator==(const Id& a, const Id& b);\n", "cpp"),
        ("static const char operator = '+';  /* a C parser's variable */\n", "c"),
        ("constexpr int limit = 10;  /* C23 has constexpr */\n", "c"),
        ("int lookup(const char *namespace, const char *name);\n", "c"),
        ("using namespace std;\n", "cpp"),
    ],
)
def test_header_language_by_content(text, language):
    assert header_language(text) == language
    assert language_for("include/x.h", text) == language


def test_header_chunks_use_the_detected_grammar():
    c_header = "/* Append bytes. */\nstatic inline int add(int a, int b) { return a + b; }\n"
    cpp_header = "class Index {\npublic:\n  int size() const { return n; }\n};\n"
    assert [(c.language, c.qualname) for c in chunk_file("a.h", c_header)] == [("c", "add")]
    assert [(c.language, c.qualname) for c in chunk_file("b.h", cpp_header)] == [
        ("cpp", "Index"), ("cpp", "Index::size")]


# --- skipped files -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("package-lock.json", "generated"),
        ("web/yarn.lock", "generated"),
        ("Cargo.lock", "generated"),
        ("poetry.lock", "generated"),
        ("go.sum", "generated"),
        ("static/app.min.js", "generated"),
        ("static/app.js.map", "generated"),
        ("assets/logo.png", "binary"),
        ("fonts/Inter.woff2", "binary"),
        ("dist/app.tar.gz", "binary"),
        ("src/app.py", None),
        ("package.json", None),
        ("Cargo.toml", None),
        ("static/app.js", None),
    ],
)
def test_skip_by_name(path, reason):
    assert skip_by_name(path) == reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("// Code generated by protoc-gen-go. DO NOT EDIT.\n\npackage pb\n", "generated"),
        ("# Generated by the protocol buffer compiler.  DO NOT EDIT!\n# source: user.proto\n", "generated"),
        ("// <auto-generated>\n//     This code was generated by a tool.\n// </auto-generated>\n", "generated"),
        ("/**\n * @generated\n */\nexport const a = 1;\n", "generated"),
        ("# This file is automatically generated.\n# Do not edit by hand.\nx = 1\n", "generated"),
        ("\"\"\"Write generated files.\"\"\"\n\nHEADER = '# Generated. DO NOT EDIT.'\n", None),  # a generator
        ("# Do not edit this list without telling ops.\nhosts = []\n", None),  # no 'generated'
        ("def f():\n    pass\n" * 10 + "# generated: do not edit\n", None),  # not in the header
    ],
)
def test_skip_by_content(text, reason):
    assert skip_by_content(text) == reason


def test_indexing_skips_generated_and_binary_files_with_reasons(tmp_path):
    from codequarry.indexer import index_repository
    from codequarry.search.searcher import Searcher
    from conftest import write_tree

    repo = write_tree(tmp_path / "repo", {
        "docs/guide.rst": "Rotation\n========\n\nRotate the signing keys every quarter.\n",
        "deploy/compose.yaml": "services:\n  web:\n    image: demo-signing-service\n",
        "Dockerfile": "FROM python:3.11\nRUN pip install signing\n",
        "NOTES": "plain notes about signing keys\n",
        "package-lock.json": "{\"lockfileVersion\": 3}\n",
        "pb/user.pb.go": "// Code generated by protoc-gen-go. DO NOT EDIT.\npackage pb\n",
        "api/client.go": "// Code generated by oapi-codegen. DO NOT EDIT.\npackage api\n",
        "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00",
        "blob.dat2": b"\x00\x01\x02",
    })
    stats = index_repository(repo, model="hash")
    assert stats.skipped == {"binary": 2, "generated": 3}
    s = Searcher.open(repo)
    hits = s.search("signing keys", k=20, mode="lexical")
    got = {(h.chunk.file, h.chunk.language) for h in hits}
    assert {("docs/guide.rst", "rst"), ("deploy/compose.yaml", "yaml"), ("Dockerfile", "dockerfile"),
            ("NOTES", "text")} <= got
