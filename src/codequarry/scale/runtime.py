"""The Ray runtime `quarry org index` runs on: a cluster by address, or a local one started for the run."""

from __future__ import annotations

import os
from contextlib import contextmanager

from codequarry.errors import UserInputError, require

# Ray's object store defaults to 30% of RAM; a local run holds a few parsed repositories at a time.
LOCAL_OBJECT_STORE = 256 * 1024 * 1024


@contextmanager
def ray_runtime(address: str | None, workers: int):
    """Yield the `ray` module, connected. A runtime this call started is shut down after; one the caller
    already started (tests, notebooks) is reused as it is."""
    ray = require("ray", "scale")
    if ray.is_initialized():
        yield ray
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    common = dict(include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    try:
        if address:
            ray.init(address=address, **common)
        else:
            # One CPU slot per parse task and one per embedding actor (see scale/index.py).
            ray.init(num_cpus=2 * workers, object_store_memory=LOCAL_OBJECT_STORE, **common)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray runtime"
        raise UserInputError(f"cannot start or reach {where}: {str(exc).splitlines()[0] if str(exc) else exc}") from exc
    try:
        yield ray
    finally:
        ray.shutdown()
