"""Call edges resolved at index time, per language: real tree-sitter, real SQLite, the hash encoder."""

import pytest
from conftest import write_tree

from codequarry.graph.query import callees, callers
from codequarry.indexer import index_repository


def edges_of(repo, name):
    """{(receiver.callee or callee): (status, how, target qualname or None, target file)} of NAME's calls."""
    (group,) = callees(name, repo=repo)
    out = {}
    for e in group.edges:
        key = f"{e.receiver}.{e.callee}" if e.receiver not in ("", "?") else e.callee
        out.setdefault(key, []).append((e.status, e.how, e.target.qualname if e.target else None,
                                        e.target.file if e.target else None))
    return out


def one(edges, key):
    (got,) = edges[key]
    return got


PYTHON = {
    "pkg/__init__.py": "from .store import Store\n",
    "pkg/store.py": '''import os
from .util import helper as h


class Base:
    def save(self):
        return 1


class Store(Base):
    def open(self, path):
        self.check()
        self.save()
        h()
        return os.path.join(path, "x")

    def check(self):
        return 2

    def run(self, cb):
        cb()
        return make()


def make():
    return Store()
''',
    "pkg/util.py": "def helper():\n    return 1\n\n\ndef dup():\n    return 2\n",
    "app.py": '''import pkg.store
from pkg import Store
from pkg.util import *


def main(s: Store):
    s.open("x")
    Store().check()
    pkg.store.make()
    helper()
    unknown_thing()
    print("done")


def dup():
    return 3
''',
    "other.py": "def use():\n    return dup()\n\n\ndef unique_call():\n    return only_here()\n",
    "lib.py": "def only_here():\n    return 1\n",
    "tests/test_app.py": "from app import main\n\n\ndef test_main():\n    main(None)\n",
}


@pytest.fixture(scope="module")
def py_repo(tmp_path_factory):
    repo = write_tree(tmp_path_factory.mktemp("py") / "repo", PYTHON)
    index_repository(repo, model="hash")
    return repo


def test_python_self_base_import_external(py_repo):
    e = edges_of(py_repo, "Store.open")
    assert one(e, "self.check")[:3] == ("resolved", "self", "Store.check")
    assert one(e, "self.save")[:3] == ("resolved", "base", "Base.save")
    assert one(e, "h")[:4] == ("resolved", "import", "helper", "pkg/util.py")
    assert one(e, "os.path.join")[:3] == ("unresolved", "external", None)


def test_python_local_names_and_same_file(py_repo):
    e = edges_of(py_repo, "Store.run")
    assert one(e, "cb")[:3] == ("unresolved", "local", None)  # a parameter, not a definition elsewhere
    assert one(e, "make")[:3] == ("resolved", "same-file", "make")


def test_python_typed_receiver_reexport_dotted_module_star_builtin(py_repo):
    e = edges_of(py_repo, "main")
    assert one(e, "s.open")[:3] == ("resolved", "typed", "Store.open")
    assert one(e, "Store")[:4] == ("resolved", "import", "Store", "pkg/store.py")  # via pkg/__init__.py
    assert one(e, "pkg.store.make")[:3] == ("resolved", "import", "make")
    assert one(e, "helper")[:3] == ("resolved", "star-import", "helper")
    assert one(e, "unknown_thing")[:3] == ("unresolved", "not found", None)
    assert one(e, "print")[:2] == ("unresolved", "builtin")
    # `Store().check()`: a receiver of unknown type is never resolved, only a candidate.
    assert one(e, "check")[:3] == ("ambiguous", "unknown receiver", "Store.check")


def test_python_unique_and_ambiguous_names(py_repo):
    assert one(edges_of(py_repo, "unique_call"), "only_here")[:4] == ("resolved", "unique", "only_here", "lib.py")
    dup = edges_of(py_repo, "use")["dup"]
    assert sorted((s, f) for s, _, _, f in dup) == [("ambiguous", "app.py"), ("ambiguous", "pkg/util.py")]


def test_callers_lists_resolved_and_candidate_edges(py_repo):
    (group,) = callers("Store.check", repo=py_repo)
    got = {(e.caller.qualname, e.status) for e in group.edges}
    assert got == {("Store.open", "resolved"), ("main", "ambiguous")}
    assert all(e.caller.file and e.line > 0 for e in group.edges)


GO = {
    "go.mod": "module example.com/proj\n\ngo 1.21\n",
    "store/store.go": '''package store

import "fmt"

type Base struct{}

func (b *Base) Save() {}

type DB struct{}

func (d *DB) Query() {}

type Store struct {
	Base
	db *DB
}

func New() *Store { return &Store{} }

func (s *Store) Open() {
	s.check()
	s.Save()
	s.db.Query()
	fmt.Println("x")
	helper()
}

func (s *Store) check() {}
''',
    "store/util.go": "package store\n\nfunc helper() {}\n",
    "main.go": '''package main

import st "example.com/proj/store"

func main() {
	x := &st.Store{}
	x.Open()
	y := st.New()
	y.Open()
	len("x")
}
''',
}


def test_go_receiver_embedding_fields_packages(tmp_path):
    repo = write_tree(tmp_path / "repo", GO)
    index_repository(repo, model="hash")
    e = edges_of(repo, "Store.Open")
    assert one(e, "self.check")[:3] == ("resolved", "self", "Store.check")
    assert one(e, "self.Save")[:3] == ("resolved", "base", "Base.Save")  # promoted from the embedded struct
    assert one(e, "self.db.Query")[:3] == ("resolved", "typed", "DB.Query")
    assert one(e, "fmt.Println")[:2] == ("unresolved", "external")
    assert one(e, "helper")[:4] == ("resolved", "package", "helper", "store/util.go")
    m = edges_of(repo, "main")
    assert one(m, "x.Open")[:3] == ("resolved", "typed", "Store.Open")
    assert one(m, "st.New")[:4] == ("resolved", "import", "New", "store/store.go")
    assert one(m, "y.Open")[:3] == ("ambiguous", "unknown receiver", "Store.Open")  # New's result type unknown
    assert one(m, "len")[:2] == ("unresolved", "builtin")


JAVA = {
    "src/main/java/com/x/store/Store.java": '''package com.x.store;

import com.x.util.Helper;
import static com.x.util.Helper.assist;

public class Store extends Base {
    private Helper helper;

    public void open() {
        check();
        this.save();
        helper.help();
        assist();
        Helper.staticHelp();
        new Helper();
        new StringBuilder();
        helper.missing();
    }

    void check() {}
}
''',
    "src/main/java/com/x/store/Base.java": "package com.x.store;\n\npublic class Base {\n    void save() {}\n}\n",
    "src/main/java/com/x/util/Helper.java": '''package com.x.util;

public class Helper {
    public void help() {}
    public static void assist() {}
    public static void staticHelp() {}
}
''',
}


def test_java_scope_base_fields_static_imports_constructors(tmp_path):
    repo = write_tree(tmp_path / "repo", JAVA)
    index_repository(repo, model="hash")
    e = edges_of(repo, "Store.open")
    assert one(e, "check")[:3] == ("resolved", "scope", "Store.check")
    assert one(e, "self.save")[:3] == ("resolved", "base", "Base.save")  # same package, no import
    assert one(e, "helper.help")[:3] == ("resolved", "typed", "Helper.help")  # field type
    assert one(e, "assist")[:3] == ("resolved", "import", "Helper.assist")  # static import
    assert one(e, "Helper.staticHelp")[:3] == ("resolved", "import", "Helper.staticHelp")
    assert one(e, "new.Helper")[:4] == ("resolved", "import", "Helper", "src/main/java/com/x/util/Helper.java")
    assert one(e, "new.StringBuilder")[:2] == ("unresolved", "builtin")
    assert one(e, "helper.missing")[:2] == ("unresolved", "not a method of Helper")  # never a namesake elsewhere


TS = {
    "src/store.ts": '''import { helper as h } from "./util";
import * as u from "./util";

export class Base {
  save() { return 1; }
}

export class Store extends Base {
  open() {
    this.check();
    this.save();
    h();
    u.other();
  }
  check() { return 2; }
}

export default function make() {
  return new Store();
}
''',
    "src/util.ts": "export function helper() { return 1; }\nexport function other() { return 2; }\n",
    "src/index.ts": 'export * from "./store";\n',
    "src/loose.ts": "function loose(x) {\n  x.open();\n  return onlyHere();\n}\n",
    "src/lib.ts": "function onlyHere() {\n  return 1;\n}\n",
    "src/app.ts": '''import make from "./store";
import { Store } from "./index";
const lib = require("./util");

function main(s: Store, cb) {
  s.open();
  make();
  lib.helper();
  new Store();
  console.log("x");
  cb();
}
''',
}


def test_typescript_this_base_imports_default_require_reexport(tmp_path):
    repo = write_tree(tmp_path / "repo", TS)
    index_repository(repo, model="hash")
    e = edges_of(repo, "Store.open")
    assert one(e, "self.check")[:3] == ("resolved", "self", "Store.check")
    assert one(e, "self.save")[:3] == ("resolved", "base", "Base.save")
    assert one(e, "h")[:4] == ("resolved", "import", "helper", "src/util.ts")
    assert one(e, "u.other")[:3] == ("resolved", "import", "other")
    m = edges_of(repo, "main")
    assert one(m, "s.open")[:3] == ("resolved", "typed", "Store.open")
    assert one(m, "make")[:4] == ("resolved", "import", "make", "src/store.ts")  # the default export
    assert one(m, "lib.helper")[:3] == ("resolved", "import", "helper")  # require()
    assert one(m, "new.Store")[:4] == ("resolved", "import", "Store", "src/store.ts")  # through export *
    assert one(m, "console.log")[:2] == ("unresolved", "builtin")
    assert one(m, "cb")[:2] == ("unresolved", "local")
    loose = edges_of(repo, "loose")
    assert one(loose, "onlyHere")[:4] == ("resolved", "unique", "onlyHere", "src/lib.ts")
    assert one(loose, "x.open")[:3] == ("ambiguous", "unknown receiver", "Store.open")


RUST = {
    "src/lib.rs": "mod store;\nmod util;\npub use store::Store;\n",
    "src/store.rs": '''use crate::util::helper;
use crate::util;

pub struct Db;

impl Db {
    pub fn query(&self) {}
}

pub struct Store {
    db: Db,
}

pub trait Saver {
    fn save(&self) {}
}

impl Saver for Store {}

impl Store {
    pub fn new() -> Store {
        Store { db: Db }
    }

    pub fn open(&self) {
        self.check();
        self.save();
        self.db.query();
        helper();
        util::other();
        crate::util::other();
        Self::new();
        Some(1);
        std::mem::drop(1);
    }

    fn check(&self) {}
}
''',
    "src/util.rs": "pub fn helper() {}\n\npub fn other() {}\n",
    "src/free.rs": "fn free() {\n    lonely();\n    let v = make();\n    v.query();\n}\n",
    "src/lonely.rs": "pub fn lonely() {}\n",
}


def test_rust_self_traits_fields_use_paths(tmp_path):
    repo = write_tree(tmp_path / "repo", RUST)
    index_repository(repo, model="hash")
    e = edges_of(repo, "Store::open")
    assert one(e, "self.check")[:3] == ("resolved", "self", "Store::check")
    assert one(e, "self.save")[:3] == ("resolved", "base", "Saver::save")  # the trait's default method
    assert one(e, "self.db.query")[:3] == ("resolved", "typed", "Db::query")
    assert one(e, "helper")[:4] == ("resolved", "import", "helper", "src/util.rs")
    assert one(e, "util.other")[:4] == ("resolved", "import", "other", "src/util.rs")  # `use crate::util`
    assert one(e, "crate.util.other")[:4] == ("resolved", "module-path", "other", "src/util.rs")
    assert one(e, "self.new")[:3] == ("resolved", "self", "Store::new")
    assert one(e, "Some")[:2] == ("unresolved", "builtin")
    assert one(e, "std.mem.drop")[0] == "unresolved"
    free = edges_of(repo, "free")
    assert one(free, "lonely")[:4] == ("resolved", "unique", "lonely", "src/lonely.rs")
    assert one(free, "v.query")[:3] == ("ambiguous", "unknown receiver", "Db::query")
    assert one(free, "make")[:2] == ("unresolved", "not found")


def test_languages_without_a_reader_resolve_by_name(tmp_path):
    repo = write_tree(tmp_path / "repo", {
        "a.c": "static int helper(void) { return 1; }\nint main(void) { return helper() + twice(); }\n",
        "b.c": "int twice(void) { return 2; }\n",
        "c.c": "int twice(void) { return 3; }\n",
    })
    index_repository(repo, model="hash")
    e = edges_of(repo, "main")
    assert one(e, "helper")[:3] == ("resolved", "same-file", "helper")
    assert sorted(x[3] for x in e["twice"]) == ["b.c", "c.c"] and {x[0] for x in e["twice"]} == {"ambiguous"}
