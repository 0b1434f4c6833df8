"""Warm mode: a local server that keeps the model and the index loaded.

`quarry serve` runs `server.run_server`; `quarry search` asks `client.try_search`
first and searches in-process only when no server answers. The client imports
nothing heavy (no numpy, faiss or model library), so a warm search costs a
Python start plus one loopback round trip.
"""

SERVER_FILE = "server.json"
