"""Definitions the chunkers used to miss (issue 11): functions assigned to members in
JavaScript, SQLite virtual tables, type aliases declared inside a function body."""

from codequarry.chunk import chunk_file

EXPRESS_STYLE = """\
var res = Object.create(http.ServerResponse.prototype);

/**
 * Send a response body.
 */
res.send = function send(body) {
  this.set('Content-Length', Buffer.byteLength(body));
  return this.end(body);
};

Router.prototype.route = function route(path) {
  return new Route(path);
};

module.exports.compile = (fn) => wrap(fn);

exports.isAbsolute = function (path) {
  return path[0] === '/';
};

module.exports = function createApplication() {
  return mixin(app);
};

handlers[0].run = function (req) { return next(req); };
"""


def test_javascript_member_assignments_are_definitions():
    got = [(c.kind, c.name, c.qualname, c.line_start, c.line_end) for c in chunk_file("lib/response.js", EXPRESS_STYLE)]
    assert got == [
        ("window", "response", "lib/response.js", 1, 1),
        ("method", "send", "res.send", 3, 9),  # its JSDoc included
        ("method", "route", "Router.route", 11, 13),  # `prototype` dropped
        ("function", "compile", "compile", 15, 15),  # `module.exports.` dropped
        ("function", "isAbsolute", "isAbsolute", 17, 19),  # `exports.` dropped
        ("function", "createApplication", "createApplication", 21, 23),  # the function's own name
        ("window", "response", "lib/response.js", 25, 25),  # not a plain member chain
    ]


def test_javascript_member_assignment_signature_doc_and_calls():
    send = next(c for c in chunk_file("lib/response.js", EXPRESS_STYLE) if c.qualname == "res.send")
    assert send.signature == "res.send = function send(body)"
    assert send.doc == "Send a response body."
    assert send.calls == ("set", "byteLength", "end")


def test_typescript_member_assignments_too():
    text = "Store.prototype.get = function (key: string): string {\n  return this.items[key];\n};\n"
    got = [(c.kind, c.qualname, c.language) for c in chunk_file("store.ts", text)]
    assert got == [("method", "Store.get", "typescript")]


def test_assigned_values_that_are_not_functions_are_not_definitions():
    text = "app.locals = {};\nexports.VERSION = '1.0';\nres.status = code;\n"
    assert [c.kind for c in chunk_file("app.js", text)] == ["window"]


def test_sqlite_virtual_table_is_a_table():
    text = ("-- Full-text index over documents.\n"
            "CREATE VIRTUAL TABLE IF NOT EXISTS docs_fts USING fts5(title, body, content='docs');\n"
            "CREATE VIRTUAL TABLE geo USING rtree(id, minx, maxx);\n")
    got = [(c.kind, c.name, c.line_start, c.line_end, c.doc) for c in chunk_file("schema.sql", text)]
    assert got == [("table", "docs_fts", 1, 2, "Full-text index over documents."), ("table", "geo", 3, 3, "")]


def test_rust_type_alias_inside_a_function_is_kept():
    text = ("fn parse(raw: &str) -> Vec<u32> {\n    type Id = u32;\n"
            "    raw.split(',').map(|s| s.parse::<Id>().unwrap()).collect()\n}\n")
    got = [(c.kind, c.name, c.qualname, c.line_start, c.line_end) for c in chunk_file("lib.rs", text)]
    assert got == [("function", "parse", "parse", 1, 4), ("type", "Id", "parse::Id", 2, 2)]
    assert chunk_file("lib.rs", text)[1].signature == "type Id = u32;"


def test_typescript_type_alias_inside_a_function_is_kept():
    text = ("export function pairs(raw: string) {\n  // A key and its value.\n  type Pair = [string, string];\n"
            "  return raw.split('&').map((kv) => kv.split('=') as Pair);\n}\n")
    got = [(c.kind, c.qualname, c.line_start, c.line_end, c.doc) for c in chunk_file("q.ts", text)]
    assert got == [("function", "pairs", 1, 5, ""), ("type", "pairs.Pair", 2, 3, "A key and its value.")]


def test_go_types_inside_a_function_are_kept():
    text = ("package p\n\nfunc Sum(xs []int) int {\n\ttype acc struct{ n int }\n\ttype id = int\n"
            "\ta := acc{}\n\tfor _, x := range xs {\n\t\ta.n += id(x)\n\t}\n\treturn a.n\n}\n")
    got = [(c.kind, c.qualname, c.line_start, c.line_end) for c in chunk_file("sum.go", text)]
    assert got == [("function", "Sum", 3, 11), ("struct", "Sum.acc", 4, 4), ("type", "Sum.id", 5, 5)]


def test_other_definitions_in_function_bodies_still_belong_to_the_function():
    text = "fn outer() {\n    struct Local;\n    fn inner() {}\n    inner();\n}\n"
    assert [c.qualname for c in chunk_file("a.rs", text)] == ["outer"]
