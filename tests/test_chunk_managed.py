"""C#, Kotlin and Scala: definitions, qualnames, signatures, docs and calls (tests/fixtures/chunk/)."""

import pytest

from codequarry.chunk import chunk_file

from tests.chunk_fixtures import chunks, find

EXPECTED = {
    "Store.cs": [
        ("window", "Store.cs", 1, 6),  # usings and the namespace line: namespaces are not in qualnames
        ("class", "Store", 7, 40),  # from its XML doc comment, attribute included
        ("method", "Store.Store", 15, 19),
        ("method", "Store.Count", 23, 23),  # a property with code; `Path { get; }` is not one
        ("method", "Store.Get", 25, 31),
        ("method", "Store.Load", 33, 34),
        ("class", "Store.Entry", 36, 39),  # its abstract method has no body: not a definition
        ("interface", "IBackend", 42, 45),
        ("enum", "Mode", 47, 47),
        ("class", "Pair", 49, 49),
        ("type", "Changed", 51, 51),
    ],
    "Store.kt": [
        ("window", "Store.kt", 1, 3),
        ("constant", "MAX_KEYS", 5, 6),
        ("class", "Store", 8, 27),
        ("method", "Store.load", 15, 19),
        ("method", "Store.get", 21, 21),
        ("method", "Store.open", 24, 25),  # companion object: no name of its own
        ("interface", "Backend", 29, 31),
        ("class", "Registry", 33, 37),  # an object is a class
        ("method", "Registry.register", 34, 36),
        ("enum", "Mode", 39, 44),
        ("method", "Mode.writable", 43, 43),
        ("type", "Key", 46, 46),
        ("method", "String.toKey", 48, 48),  # extension function: qualified by its receiver
    ],
    "Store.scala": [
        ("window", "Store.scala", 1, 3),
        ("class", "Store", 5, 16),
        ("method", "Store.load", 9, 13),
        ("method", "Store.get", 15, 15),
        ("class", "Store", 18, 23),  # the companion object shares its class's name
        ("constant", "Store.MaxKeys", 19, 19),
        ("method", "Store.apply", 21, 22),
        ("trait", "Backend", 25, 28),
        ("method", "Backend.contains", 27, 27),  # the abstract `get` is a declaration only
        ("class", "Pair", 30, 30),
        ("type", "Key", 32, 32),
        ("method", "String.toKey", 35, 35),  # Scala 3 extension method
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_chunk(name):
    assert [(c.kind, c.qualname, c.line_start, c.line_end) for c in chunks(name)] == EXPECTED[name]


@pytest.mark.parametrize(("name", "language"), [("Store.cs", "csharp"), ("Store.kt", "kotlin"),
                                                ("Store.scala", "scala")])
def test_language_names(name, language):
    assert {c.language for c in chunks(name)} == {language}


@pytest.mark.parametrize(
    ("name", "qualname", "signature"),
    [
        ("Store.cs", "Store", "public class Store : IBackend"),  # `[Serializable]` left out
        ("Store.cs", "Store.Get", "public string Get(string key)"),
        ("Store.cs", "Store.Count", "public int Count"),
        ("Store.kt", "Store", "class Store(private val path: String) : Backend"),  # annotation left out
        ("Store.kt", "Store.open", "fun open(path: String): Store"),
        ("Store.kt", "String.toKey", "fun String.toKey(): Key"),
        ("Store.scala", "Store.apply", "def apply(path: String): Store"),
        ("Store.scala", "Backend", "trait Backend"),
    ],
)
def test_signatures(name, qualname, signature):
    assert find(name, qualname).signature == signature


@pytest.mark.parametrize(
    ("name", "qualname", "doc"),
    [
        # XML doc tags become text; <see cref> keeps its target.
        ("Store.cs", "Store", "A persistent key-value store.\nNot thread-safe; see SyncStore."),
        ("Store.cs", "Store.Get", "Returns the value for a key.\nkey: The key to look up."),
        ("Store.cs", "Store.Load", "Reads the file into memory."),
        ("Store.kt", "Store", "A persistent key-value store."),
        ("Store.kt", "Store.open", "Opens the store at [path]."),
        ("Store.kt", "MAX_KEYS", "The most keys a store may hold."),
        ("Store.scala", "Store.load", "Reads the file into memory."),
        ("Store.scala", "Store.apply", "Opens the store at a path."),
    ],
)
def test_docs(name, qualname, doc):
    assert find(name, qualname).doc == doc


@pytest.mark.parametrize(
    ("name", "qualname", "calls"),
    [
        ("Store.cs", "Store.Store", ("Load",)),
        ("Store.cs", "Store.Get", ("Validate", "TryGetValue")),
        ("Store.cs", "Store.Load", ("ReadAllLines", "ToList", "ForEach")),
        ("Store.cs", "Store", ("Dictionary",)),  # `new` in a field initialiser
        ("Store.kt", "Store.load", ("File", "readLines", "forEach", "parse")),
        ("Store.kt", "Store.open", ("Store", "also", "load")),
        ("Store.scala", "Store.load", ("fromFile", "getLines", "map")),
        ("Store.scala", "Store.apply", ("Store",)),  # `new Store(path)`
    ],
)
def test_calls(name, qualname, calls):
    assert find(name, qualname).calls == calls


def test_kotlin_interface_method_without_body_is_not_a_definition():
    assert [c.qualname for c in chunks("Store.kt") if c.qualname.startswith("Backend")] == ["Backend"]


# pythonnet's Finalizer.cs: `#if` lines inside a parameter list, an object initialiser and between a
# `lock (...)` header and its block. With a long enough block after them tree-sitter-c-sharp gives up
# on the whole file (its root becomes an ERROR node): the class was lost, its members came out as bare
# functions and the long method as windows.
def csharp_preprocessor_source(statements: int = 60) -> str:
    drains = "".join(f"                Drain{i}(disposeObj);\n" for i in range(statements))
    return f"""\
namespace Python.Runtime
{{
    public class Finalizer
    {{
        internal void AddFinalizedObject(ref IntPtr obj, int run
#if TRACE_ALLOC
                                         , StackTrace stackTrace
#endif
        )
        {{
#if FINALIZER_CHECK
            lock (_queueLock)
#endif
            {{
                _objQueue.Enqueue(new PendingFinalization {{
                    PyObj = obj,
#if TRACE_ALLOC
                    StackTrace = stackTrace.ToString(),
#endif
                }});
            }}
        }}

        internal nint DisposeAll(bool disposeObj = true)
        {{
#if FINALIZER_CHECK
            lock (_queueLock)
#endif
            {{
{drains}            }}
            return 0;
        }}

#if FINALIZER_CHECK
        private void ValidateRefCount()
        {{
            Check();
        }}
#else
        private void ValidateRefCount() {{ }}
#endif
    }}
}}
"""


def test_csharp_preprocessor_lines_keep_the_class_and_its_methods():
    got = [(c.kind, c.qualname, c.line_start, c.line_end) for c in chunk_file("Finalizer.cs", csharp_preprocessor_source())]
    assert got == [
        ("class", "Finalizer", 3, 4),  # a long class: its skeleton, in the pieces between its members
        ("method", "Finalizer.AddFinalizedObject", 5, 22),
        ("method", "Finalizer.DisposeAll", 24, 79),  # a long method: overlapping pieces
        ("method", "Finalizer.DisposeAll", 75, 92),
        ("method", "Finalizer.ValidateRefCount", 95, 98),  # the `#if` branch's; the `#else` one is not parsed
        ("class", "Finalizer", 99, 102),
    ]


def test_csharp_preprocessor_signature_and_calls_read_the_file():
    add = next(c for c in chunk_file("Finalizer.cs", csharp_preprocessor_source())
               if c.qualname == "Finalizer.AddFinalizedObject")
    assert add.signature == ("internal void AddFinalizedObject(ref IntPtr obj, int run #if TRACE_ALLOC"
                             " , StackTrace stackTrace #endif )")
    assert add.calls == ("Enqueue", "PendingFinalization", "ToString")


# scaladoc's CommentFactoryBase calls its own method `inline(...)`: tree-sitter-scala reads the Scala 3
# soft keyword there and used to lose the trait, leaving its methods as windows or bare functions.
SCALA_INLINE_CALL = """\
trait CommentFactoryBase { this: MemberLookupBase =>

  def bold(): Inline = {
    jump("'''")
    val i = inline(check("'''"))
    Bold(i)
  }

  def italic(): Inline = {
    val i = inline(check("''"))
    Italic(i)
  }

  def inline(isInlineEnd: => Boolean): Inline = {
    Text(isInlineEnd.toString)
  }
}
"""


def test_scala_method_named_inline_keeps_the_trait_and_its_methods():
    got = [(c.kind, c.qualname, c.line_start, c.line_end) for c in chunk_file("Comments.scala", SCALA_INLINE_CALL)]
    assert got == [
        ("trait", "CommentFactoryBase", 1, 17),
        ("method", "CommentFactoryBase.bold", 3, 7),
        ("method", "CommentFactoryBase.italic", 9, 12),
        ("method", "CommentFactoryBase.inline", 14, 16),
    ]


def test_scala_calls_to_inline_keep_their_name():
    bold = next(c for c in chunk_file("Comments.scala", SCALA_INLINE_CALL) if c.qualname == "CommentFactoryBase.bold")
    assert bold.calls == ("jump", "inline", "check", "Bold")


def test_repairs_keep_every_offset_and_touch_only_what_breaks_the_parse():
    from codequarry.chunk.specs.managed import csharp_without_conditionals, scala_without_inline_calls

    cs = b"void F(int a\n#if X\n, int b\n#elif Y\n, int c\n#else\n#if Z\n, int d\n#endif\n#endif\n) { }\r\n"
    fixed = csharp_without_conditionals(cs)
    assert len(fixed) == len(cs) and fixed.count(b"\n") == cs.count(b"\n") and fixed.endswith(b"\r\n")
    assert fixed.split() == [b"void", b"F(int", b"a", b",", b"int", b"b", b")", b"{", b"}"]  # first branch only
    scala = b"def inline(x: Int) = inline (x) + a.inline(x) + inlined(x) + `inline`(x)"
    assert scala_without_inline_calls(scala) == scala.replace(b"= inline (", b"= inl1ne (")


def test_csharp_conditionals_that_parse_keep_both_branches():
    text = "class A\n{\n#if X\n    void F() { G(); }\n#else\n    void F() { }\n#endif\n}\n"
    assert [(c.qualname, c.line_start) for c in chunk_file("A.cs", text)] == [("A", 1), ("A.F", 4), ("A.F", 6)]


def test_a_kotlin_file_ending_inside_an_annotation_does_not_hang_the_parser():
    # tree-sitter-kotlin 1.1.0 loops for ever on these bytes unless they end with a newline
    # (found by tests/test_properties.py); run apart, so a regression fails instead of hanging the suite.
    import subprocess
    import sys

    code = ("from codequarry.chunk import chunk_file\n"
            "chunks = chunk_file('a.kt', 'package x\\n\\nclass A\\n@Sup')\n"
            "assert chunks and chunks[-1].line_end <= 4, chunks\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# One kilobyte of mangled Kotlin that tree-sitter-kotlin 1.1.0 takes ~2.5 minutes and gigabytes to
# parse (a case tests/test_properties.py generated, cut down line by line).
SLOW_KOTLIN = (
    "    fun load(): Map<String, String> {\n        File(path).readLines().forEach { parse(it) }\n"
    "        return items\n #),begin//\n    fun get(key: String): String?\n}\n\nobject Registry {\n"
    "    fun register(store: Store) {\n        stores.add(store)\n    }\n}\n\nenum class Mode {\n    READ,\n"
    "    WRITE;\n\n    fun writable() = this == WRITE\n}\n\ntypealias Key = String\n\n"
    "fun String.toKey(): Key = trim().lowercase()"
)


def test_a_parse_past_its_time_budget_costs_the_file_its_definitions_not_the_run(monkeypatch):
    import time

    from codequarry.chunk import languages
    from codequarry.graph.update import file_facts

    monkeypatch.setattr(languages, "PARSE_SECONDS", 0.2)
    started = time.monotonic()
    chunks = chunk_file("src/Slow.kt", SLOW_KOTLIN)
    assert time.monotonic() - started < 10  # was ~150 s
    assert [c.kind for c in chunks] == ["window"] and chunks[0].line_end == SLOW_KOTLIN.count("\n") + 1
    # The call-graph reader of the same text gets the remembered timeout at once, not a second wait.
    started = time.monotonic()
    assert file_facts("kotlin", SLOW_KOTLIN) is None
    assert time.monotonic() - started < 0.1
    # The thread's parser still works afterwards, and a tree parsed within the budget reads its text.
    monkeypatch.setattr(languages, "PARSE_SECONDS", 2.0)
    after = chunk_file("src/Ok.kt", "class Ok {\n    fun get(): Int = 1\n}\n")
    assert [(c.kind, c.qualname) for c in after] == [("class", "Ok"), ("method", "Ok.get")]


# A conditional inside a parameter list: tree-sitter-c-sharp reads it with an error, and the repair
# (blanking the `#if` lines) gives a cleaner tree; the damaged one still holds every definition.
CSHARP_CONDITIONAL_PARAMETER = (
    "class Store\n{\n    public void Get()\n    {\n        var x = 1;\n    }\n\n    public void Put(int a\n"
    "#if TRACE\n        , int b\n#endif\n    )\n    {\n    }\n}\n"
)


def test_a_repair_whose_parse_runs_out_of_time_keeps_the_files_own_tree(monkeypatch):
    import dataclasses

    from codequarry.chunk import definitions, languages

    def shape(chunks):
        return [(c.kind, c.qualname, c.line_start, c.line_end) for c in chunks]

    with monkeypatch.context() as m:  # what the file's own (damaged) tree gives, with no repair at all
        m.setitem(definitions.SPECS, "csharp", dataclasses.replace(definitions.SPECS["csharp"], repair=None))
        unrepaired = shape(chunk_file("Store.cs", CSHARP_CONDITIONAL_PARAMETER))
    tried = []

    def repair_times_out(lang, data):  # only the repair's parse comes here; the file's own goes through parse()
        tried.append(lang)
        raise languages.ParseTimeout(f"{lang}: no parse within 0.0 s")

    monkeypatch.setattr(definitions, "parse_bytes", repair_times_out)
    got = shape(chunk_file("Store.cs", CSHARP_CONDITIONAL_PARAMETER))
    assert tried == ["csharp"] and got == unrepaired
    assert [q for k, q, *_ in got if k != "window"] == ["Store", "Store.Get", "Store.Put"]
