from pathlib import Path

from codequarry.chunk import chunk_file

README = Path(__file__).parent / "fixtures" / "chunk" / "README.md"


def readme():
    return chunk_file("docs/README.md", README.read_text())


def test_one_section_per_heading_with_heading_paths():
    got = [(c.language, c.kind, c.name, c.qualname, c.line_start, c.line_end) for c in readme()]
    assert got == [
        ("markdown", "section", "codequarry", "codequarry", 1, 3),
        ("markdown", "section", "Install", "codequarry > Install", 5, 7),
        ("markdown", "section", "From source", "codequarry > Install > From source", 9, 17),
        ("python", "function", "install", "install", 14, 16),
        ("markdown", "section", "Usage", "codequarry > Usage", 19, 23),
        ("markdown", "section", "Setext heading", "codequarry > Setext heading", 25, 28),
    ]


def test_definitions_in_a_fenced_block_use_the_markdown_file_lines():
    lines = README.read_text().split("\n")
    install = next(c for c in readme() if c.name == "install")
    assert install.code == "\n".join(lines[13:16])
    assert install.code.startswith("def install(path):")
    assert install.doc == "Install from a checkout."
    assert install.calls == ("run_pip",)
    assert install.file == "docs/README.md"


def test_a_fence_without_definitions_stays_in_its_section():
    usage = next(c for c in readme() if c.name == "Usage")
    assert 'quarry search "open a store"' in usage.code
    assert usage.signature == "## Usage"
    assert usage.calls == ()


def test_sections_do_not_repeat_their_subsections():
    top = next(c for c in readme() if c.name == "codequarry")
    assert top.code == "# codequarry\n\nSemantic code search for people and agents."


def test_heading_markup_is_dropped_from_names_and_preamble_is_a_window():
    text = ("Intro text before any heading,\nlong enough to be kept as a window.\n\n"
            "## The `open` **function** ##\n\nBody.\n")
    got = chunk_file("guide.md", text)
    assert [(c.kind, c.name, c.qualname, c.line_start, c.line_end) for c in got] == [
        ("window", "guide", "guide.md", 1, 2),
        ("section", "The open function", "The open function", 4, 6),
    ]


def test_indented_fence_in_a_list_keeps_file_lines():
    text = ("# API\n\n- Example:\n\n"
            "  ```rust\n  pub fn area(w: u32, h: u32) -> u32 {\n      w * h\n  }\n  ```\n")
    area = [c for c in chunk_file("api.md", text) if c.language == "rust"]
    assert [(c.name, c.line_start, c.line_end) for c in area] == [("area", 6, 8)]
    assert area[0].code.strip().startswith("pub fn area")


def test_unknown_fence_language_is_left_alone():
    text = "# Config\n\n```yaml\nkey: value\n```\n"
    assert [c.kind for c in chunk_file("c.md", text)] == ["section"]


def test_long_section_becomes_windows_of_the_section():
    body = "\n".join(f"Line {i} of a rather long paragraph about vectors." for i in range(60))
    text = f"# Guide\n\n## Tuning\n\n{body}\n"
    got = [c for c in chunk_file("g.md", text, max_chars=500, overlap_lines=2) if c.name == "Tuning"]
    assert len(got) > 2
    assert {c.parent for c in got} == {"Guide > Tuning"}
    assert all(len(c.code) <= 500 for c in got)
    assert got[0].line_start == 3 and got[-1].line_end == 64


def test_fences_in_the_new_languages_are_parsed():
    text = "# Kotlin\n\n```kotlin\nfun greet(name: String) = println(name)\n```\n\n## Elixir\n\n```elixir\n" \
           "defmodule Hello do\n  def hi, do: IO.puts(\"hi\")\nend\n```\n"
    got = [(c.language, c.kind, c.qualname) for c in chunk_file("README.md", text) if c.kind != "section"]
    assert got == [("kotlin", "function", "greet"), ("elixir", "module", "Hello"), ("elixir", "function", "Hello.hi")]
