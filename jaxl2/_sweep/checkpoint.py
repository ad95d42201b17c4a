"""Sweep checkpoints: one ``.npz`` file per finished chunk, written atomically.

Each file is written under a temporary name in the same directory, flushed to disk and then
renamed (``os.replace``, atomic on POSIX and Windows), so a sweep killed at any moment leaves
only whole chunk files. ``sweep.json`` records a hash of what defines the sweep (fn's name, or
the settings that define train_sweep's and cross_validate's member function; the hparams values,
the shapes and dtypes of the arguments and outputs, and a digest of array
arguments); a directory holding a different sweep is refused, never overwritten. Only process 0
creates, validates and writes; the other processes look only once it has finished (no process can
see its temporary files), so the directory must be on a file system all hosts share.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import jax
import numpy as np

MANIFEST = "sweep.json"
FORMAT = 1

MSG_OTHER_SWEEP = (
    "checkpoint_dir={path!r} holds a different sweep (fingerprint {theirs}, this sweep {ours}); "
    "it differs in: {what}. It was left untouched. Use another directory for this sweep, or "
    "delete that one to start over."
)
MSG_NOT_SHARED = (
    "checkpoint_dir={path!r} holds no manifest on process {process}, although process 0 "
    "wrote one: under jax.distributed the directory must be on a file system that all "
    "processes share."
)
MSG_NOT_A_SWEEP = (
    "checkpoint_dir={path!r} is not empty and holds no jaxl2 sweep ({manifest} is missing); "
    "refusing to write into it. Give an empty or new directory."
)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _name(obj: Any) -> str:
    """A name of a callable that is the same in every process (repr would hold an address)."""
    target = getattr(obj, "func", obj)  # functools.partial
    module = getattr(target, "__module__", None) or type(target).__module__
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{qualname}"


def _array_entry(x: Any, *, values: bool) -> list:
    entry: list = [str(np.dtype(x.dtype)), list(np.shape(x))]
    if values:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            entry.append("global")  # another host holds part of it: shapes only
        else:
            entry.append(_digest(np.ascontiguousarray(np.asarray(x)).tobytes()))
    return entry


def signature(
    identity: str,
    hparams: Any,
    args_tree: Any,
    dynamic: list,
    static_leaves: list,
    out_avals: Any,
    num_members: int,
) -> dict:
    """What defines a sweep: ``identity`` (what is swept: fn's module and qualified name, or
    the settings train_sweep / cross_validate pass), hparams values, argument and output shapes."""
    h_leaves, h_tree = jax.tree.flatten(hparams)
    o_leaves, o_tree = jax.tree.flatten(out_avals)
    static_entries = [_name(s) if callable(s) else repr(s) for s in static_leaves]
    return {
        "format": FORMAT,
        "fn": identity,
        "members": num_members,
        "hparams": [str(h_tree), [_array_entry(x, values=True) for x in h_leaves]],
        "args": [
            str(args_tree),
            [_array_entry(x, values=True) for x in dynamic],
            static_entries,
        ],
        "outputs": [str(o_tree), [_array_entry(x, values=False) for x in o_leaves]],
    }


def _differences(ours: dict, theirs: dict) -> str:
    labels = {
        "fn": "fn's name or settings",
        "members": "the number of members K",
        "hparams": "the hparams",
        "args": "the arguments (shapes, dtypes or values)",
        "outputs": "what fn returns",
        "format": "the file format",
    }
    keys = [k for k in labels if ours.get(k) != theirs.get(k)]
    parts = []
    for k in keys:
        if k in ("fn", "members"):
            parts.append(f"{labels[k]} ({theirs.get(k)!r} there, {ours.get(k)!r} here)")
        else:
            parts.append(labels[k])
    return ", ".join(parts) or "unknown"


def _atomic_write(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


class SweepStore:
    """A directory of finished chunks of one sweep."""

    def __init__(self, path: str | os.PathLike, sig: dict) -> None:
        self.path = Path(path)
        self.sig = sig
        self.hash = _digest(json.dumps(sig, sort_keys=True).encode())
        self.writer = jax.process_index() == 0
        if jax.process_count() == 1:
            self._open(create=True)
            return
        # Under jax.distributed only process 0 validates and creates the directory; the others
        # look only after it has finished (the broadcast waits for it), so none can see its
        # temporary manifest. Every process learns every outcome before any raises.
        from jax.experimental import multihost_utils

        error = None
        if self.writer:
            error = self._attempt(create=True)
        first = int(multihost_utils.broadcast_one_to_all(np.int32(error is not None)))
        if not self.writer:
            error = self._attempt(create=False)
            if error is None and first:
                error = f"checkpoint_dir={str(path)!r} was refused by process 0 (see its error)."
            elif error is None and not (self.path / MANIFEST).exists():
                error = MSG_NOT_SHARED.format(path=str(path), process=jax.process_index())
        failed = np.asarray(multihost_utils.process_allgather(np.int32(error is not None)))
        if error is not None:
            raise ValueError(error)
        if failed.any():
            bad = [int(i) for i in np.flatnonzero(failed.reshape(-1))]
            raise ValueError(
                f"checkpoint_dir={str(path)!r} was refused on process(es) {bad} (see their "
                "errors); this process stops too, so that no process waits for the others."
            )

    def _attempt(self, create: bool) -> str | None:
        try:
            self._open(create)
        except (ValueError, OSError) as exc:
            return str(exc)
        return None

    def _open(self, create: bool) -> None:
        """Checks the directory; with ``create``, makes it and writes the manifest."""
        path, sig = self.path, self.sig
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"checkpoint_dir={str(path)!r} exists and is not a directory.")
        manifest = self.path / MANIFEST
        if manifest.exists():
            theirs = json.loads(manifest.read_text())
            if theirs.get("hash") != self.hash:
                raise ValueError(
                    MSG_OTHER_SWEEP.format(
                        path=str(path),
                        theirs=theirs.get("hash"),
                        ours=self.hash,
                        what=_differences(sig, theirs.get("signature", {})),
                    )
                )
        elif self.path.exists() and any(self.path.iterdir()):
            raise ValueError(MSG_NOT_A_SWEEP.format(path=str(path), manifest=MANIFEST))
        elif create:
            self.path.mkdir(parents=True, exist_ok=True)
            text = json.dumps({"hash": self.hash, "signature": sig}, indent=1).encode()
            _atomic_write(manifest, lambda f: f.write(text))

    def load(self, buffers: list[np.ndarray], done: np.ndarray) -> None:
        """Fills ``buffers`` (one per output leaf, leading axis K) and ``done`` from disk."""
        for file in sorted(self.path.glob("chunk-*.npz")):
            with np.load(file, allow_pickle=False) as data:
                index = data["index"]
                for i, buf in enumerate(buffers):
                    leaf = data[f"leaf_{i}"]
                    if leaf.dtype != buf.dtype:  # e.g. bfloat16, stored as raw bytes
                        leaf = leaf.view(buf.dtype)
                    buf[index] = leaf
                done[index] = True

    def save(self, index: np.ndarray, leaves: list[np.ndarray]) -> None:
        """Writes one finished chunk: members ``index`` with their output leaves."""
        if not self.writer:
            return
        arrays: dict[str, Any] = {"index": np.asarray(index, np.int64)}
        for i, leaf in enumerate(leaves):
            if leaf.dtype.isbuiltin != 1:  # bfloat16 and other ml_dtypes: store the raw bits
                leaf = leaf.view(f"u{leaf.dtype.itemsize}")
            arrays[f"leaf_{i}"] = leaf
        name = f"chunk-{int(index.min()):07d}-{int(index.max()):07d}-{uuid.uuid4().hex[:8]}.npz"
        _atomic_write(self.path / name, lambda f: np.savez(f, **arrays))
