"""Runs a test file's subprocesses (notebooks, README blocks, benchmarks) a few at a time.

Each of these tests spends its time in a child process, mostly compiling with XLA, which uses one
core. Started together on a pool of ``JAXL2_TEST_PROCESSES`` workers (default: the number of
cores, at most 4), they take about half the wall time on the 2-core CI machine; each test then
waits for its own child and checks its result as before. Nothing starts until the first test that
needs a result asks for it, so running one test (``-k``) runs one child.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor


def workers() -> int:
    """How many children run at once."""
    value = os.environ.get("JAXL2_TEST_PROCESSES")
    if value:
        return max(1, int(value))
    return max(1, min(4, os.cpu_count() or 1))


class Children:
    """Starts ``command(key)`` for every key when the first result is asked for.

    ``command`` returns the ``subprocess.run`` keyword arguments (``args`` included) for a key.
    """

    def __init__(self, keys: list[Hashable], command: Callable[[Hashable], dict]):
        self._keys, self._command = list(keys), command
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[Hashable, Future] = {}

    def result(self, key: Hashable) -> subprocess.CompletedProcess:
        """The finished child of ``key`` (the asked-for key starts first)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=workers())
            for k in [key] + [k for k in self._keys if k != key]:
                self._futures[k] = self._pool.submit(subprocess.run, **self._command(k))
        if key not in self._futures:
            self._futures[key] = self._pool.submit(subprocess.run, **self._command(key))
        return self._futures[key].result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def selected(request, argname: str) -> list:
    """The values of ``argname`` of this module's tests that this session will run."""
    return [
        item.callspec.params[argname]
        for item in request.session.items
        if getattr(item, "module", None) is request.module  # doctest items have no module
        and argname in getattr(getattr(item, "callspec", None), "params", {})
        and item.get_closest_marker("skip") is None
    ]
