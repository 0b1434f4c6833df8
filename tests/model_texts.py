"""Texts every runtime of the real model must embed alike: code, a query, one character, nothing,
non-ASCII, and one longer than the 256-token window (truncation must match too)."""

MODEL_TEXTS = [
    "def read_config(path):\n    with open(path) as fh:\n        return json.load(fh)",
    "how to sort a dict by value",
    "class UploadStore:\n    '''Keeps uploaded blobs on disk.'''\n    def open(self, path):\n        return open(path)",
    "x",
    "",
    "naïve café — 数据 ∑ emoji 🎉",
    "def long_function(a, b):\n" + "    total = compute_something(a, b) + other_value\n" * 120,
]
