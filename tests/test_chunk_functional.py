"""Elixir and Haskell: modules of functions, several clauses to a function."""

import pytest

from codequarry.chunk import chunk_file

from tests.chunk_fixtures import chunks, find

EXPECTED = {
    "conn.ex": [
        ("module", "Plug.Conn", 1, 40),  # the module name as written
        ("constant", "Plug.Conn.max_headers", 6, 6),
        ("type", "Plug.Conn.t", 8, 8),
        ("function", "Plug.Conn.send_resp", 12, 25),  # @doc and @spec above; both clauses
        ("function", "Plug.Conn.run_before_send", 27, 28),
        ("macro", "Plug.Conn.sent?", 30, 32),
        ("module", "Plug.Conn.Unfetched", 34, 39),
        ("function", "Plug.Conn.Unfetched.new", 38, 38),
        ("interface", "Plug.Exception", 42, 44),  # defprotocol; its bodiless def is a declaration
        ("impl", "Plug.Exception.Any", 46, 48),  # defimpl ..., for: Any is the module Plug.Exception.Any
        ("function", "Plug.Exception.Any.status", 47, 47),
    ],
    "Store.hs": [
        ("window", "Store.hs", 1, 9),  # pragma, module header, imports: module names are not qualnames
        ("constant", "maxKeys", 11, 13),  # haddock + type signature + binding
        ("struct", "Store", 15, 19),  # one constructor
        ("enum", "Mode", 21, 21),  # several
        ("type", "Key", 23, 23),
        ("type", "Items", 25, 25),
        ("function", "load", 27, 33),
        ("function", "insert", 35, 36),
        ("function", "size", 38, 42),  # two equations, one definition
        ("interface", "Backend", 44, 47),  # a type class
        ("method", "Backend.flush", 45, 47),  # its haddock, which the grammar puts before the block
        ("impl", "Backend Store", 49, 50),  # an instance
        ("method", "Store.flush", 50, 50),  # ...qualifies its methods by the instance type
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_chunk(name):
    assert [(c.kind, c.qualname, c.line_start, c.line_end) for c in chunks(name)] == EXPECTED[name]


def test_names_are_bare():
    assert find("conn.ex", "Plug.Conn.send_resp").name == "send_resp"
    assert find("conn.ex", "Plug.Conn").name == "Plug.Conn"
    assert find("Store.hs", "Store.flush").name == "flush"
    assert find("Store.hs", "Backend Store").name == "Store"


@pytest.mark.parametrize(
    ("name", "qualname", "signature"),
    [
        ("conn.ex", "Plug.Conn", "defmodule Plug.Conn"),
        ("conn.ex", "Plug.Conn.send_resp", "def send_resp(%__MODULE__{state: :set} = conn, status, body)"),
        ("conn.ex", "Plug.Conn.run_before_send", "defp run_before_send(conn)"),  # `, do:` one-liner
        ("Store.hs", "load", "load :: FilePath -> IO Store"),  # the type signature
        ("Store.hs", "insert", "insert :: String -> String -> Store -> Store"),
        ("Store.hs", "Backend", "class Backend a where"),
    ],
)
def test_signatures(name, qualname, signature):
    assert find(name, qualname).signature == signature


@pytest.mark.parametrize(
    ("name", "qualname", "doc"),
    [
        ("conn.ex", "Plug.Conn", "The connection between a request and its response."),  # @moduledoc
        ("conn.ex", "Plug.Conn.send_resp", "Sends a response with the given status and body."),  # @doc
        ("conn.ex", "Plug.Conn.run_before_send", "Runs the callbacks registered before sending."),  # comment
        ("conn.ex", "Plug.Conn.Unfetched", ""),  # @moduledoc false
        ("Store.hs", "maxKeys", "The most keys a store may hold."),  # haddock the grammar puts in `imports`
        ("Store.hs", "load", "Reads a store from disk."),
        ("Store.hs", "size", "Counts the keys."),
        ("Store.hs", "Backend.flush", "Writes everything out."),
    ],
)
def test_docs(name, qualname, doc):
    assert find(name, qualname).doc == doc


@pytest.mark.parametrize(
    ("name", "qualname", "calls"),
    [
        # Not `def`, not the head `send_resp(...)`, not `@spec` contents, not `raise`.
        ("conn.ex", "Plug.Conn.send_resp", ("put_status", "run_before_send", "put", "inspect")),
        ("conn.ex", "Plug.Conn.run_before_send", ("reduce",)),  # `conn.before_send` is a field
        ("Store.hs", "load", ("readFile", "return", "Store", "parse", "map")),
        ("Store.hs", "insert", ("insert", "items")),  # `M.insert k v` once, not once per argument
        ("Store.hs", "size", ("null", "size")),  # the `(Store _ m)` pattern is no call
        ("Store.hs", "Store.flush", ("writeFile", "path", "show", "items")),
    ],
)
def test_calls(name, qualname, calls):
    assert find(name, qualname).calls == calls


def test_clauses_merge_only_when_adjacent():
    text = "f 0 = 1\nf n = n\n\ng = 2\n\nf' x = x\n"
    got = [(c.kind, c.qualname, c.line_start, c.line_end) for c in chunk_file("A.hs", text)]
    assert got == [("function", "f", 1, 2), ("constant", "g", 4, 4), ("function", "f'", 6, 6)]
