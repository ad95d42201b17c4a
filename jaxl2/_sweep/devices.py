"""Cores as devices: one XLA:CPU device per core, so a sweep can run one member per core.

XLA:CPU runs a single program on all cores by splitting its large operations, which does little
for the small matrices of a typical sweep member. Giving XLA one device per core and sharding
the members over them (see :func:`jaxl2.sweep`) runs one member sequence per core instead. The
device count is fixed when JAX starts its backend, so it must be chosen before the first JAX
computation.
"""

from __future__ import annotations

import os
import re
import warnings

import jax

from .._checks import check_int

MSG_TOO_LATE = (
    "jaxl2.use_cpu_cores({n}) came too late: JAX has already started its backend with "
    "{have} CPU device(s), and the number of CPU devices cannot change after that. Sweeps will "
    "run on {have} CPU device(s). Fix: call jaxl2.use_cpu_cores() right after `import jaxl2`, "
    "before any JAX computation (in a notebook: first cell, then restart the kernel), or set "
    "XLA_FLAGS=--xla_force_host_platform_device_count={n} before starting Python."
)

_FORCE_FLAG = re.compile(r"--xla_force_host_platform_device_count=(\d+)")


def _backend_started() -> bool:
    # The public API has no way to ask without starting the backend; this private helper has
    # existed since jax 0.4 and only reads a dictionary.
    from jax._src import xla_bridge

    return xla_bridge.backends_are_initialized()


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def use_cpu_cores(n: int | None = None) -> int:
    """Makes each CPU core a JAX device so that sweeps run one member per core; call it first.

    XLA:CPU treats the whole host as one device and parallelizes inside large operations
    (matrix products), which helps little for the small operations of a typical sweep member.
    With one device per core, :func:`jaxl2.sweep` (``strategy="auto"``) can shard the members
    over the cores, each core running its own members. It sets
    ``jax.config.update("jax_num_cpu_devices", n)``, which JAX accepts only before it starts
    its backend, i.e. before the first JAX computation or ``jax.devices()`` call. It changes
    nothing on GPU/TPU.

    Whether it pays off depends on the model and the machine: a per-member jitted loop of a
    mid-sized MLP already keeps several cores busy through XLA's own threads, yet one member
    per core can still be faster; measured figures are in ``benchmarks/RESULTS.md`` ("λ
    sweeps", from ``benchmarks/bench_sweep.py``). Over several
    devices, ``sweep``'s ``"auto"`` runs ``"vmap"`` for members whose cost analysis is small,
    ``"map"`` (one member sequence per core) for large ones, and times the candidates on real
    members in between.

    Args:
        n: number of CPU devices; default: the cores this process may use
            (``os.sched_getaffinity``). If ``XLA_FLAGS`` already sets
            ``--xla_force_host_platform_device_count``, that setting is kept.

    Returns:
        The number of CPU devices JAX will use (or already uses, if it came too late).

    Raises:
        ValueError: if ``n`` is not a positive integer.

    Warns:
        RuntimeWarning: when JAX's backend has already started with a different number of CPU
            devices; the call then changes nothing and says how to fix it.

    Examples:
        At the top of a script or the first cell of a notebook::

          import jaxl2
          jaxl2.use_cpu_cores()   # before any JAX computation

        Here (in the test suite) JAX has already started, so the call reports the current
        count and warns if it differs:

        >>> import warnings, jax, jaxl2
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     count = jaxl2.use_cpu_cores()
        >>> count == len(jax.devices("cpu"))
        True
    """
    n = check_int(n, "n", allow_none=True, hint=" (the number of CPU devices)")
    forced = _FORCE_FLAG.search(os.environ.get("XLA_FLAGS", ""))
    if _backend_started():
        have = len(jax.devices("cpu"))
        want = n if n is not None else (int(forced.group(1)) if forced else available_cores())
        if want != have:
            warnings.warn(MSG_TOO_LATE.format(n=want, have=have), RuntimeWarning, stacklevel=2)
        return have
    if forced and n is None:
        return int(forced.group(1))
    n = n if n is not None else available_cores()
    jax.config.update("jax_num_cpu_devices", n)
    return n


# ----------------------------------------------------------------------------- on-disk caches

# JAXL2_CACHE_DIR: where jaxl2 keeps what it remembers between processes (default: the user's
# cache home, $XDG_CACHE_HOME/jaxl2 or ~/.cache/jaxl2); "0", "off" or "" turns every on-disk
# cache off. JAXL2_COMPILATION_CACHE=0 keeps JAX's persistent compilation cache off only;
# JAXL2_AUTO_CACHE=0 stops sweep(strategy="auto") from remembering its decisions on disk.
_OFF = ("", "0", "off", "false", "no")


def _env_off(name: str) -> bool:
    value = os.environ.get(name)
    return value is not None and value.strip().lower() in _OFF


def cache_home() -> str | None:
    """jaxl2's cache directory, or None when the user turned on-disk caches off."""
    if _env_off("JAXL2_CACHE_DIR"):
        return None
    chosen = os.environ.get("JAXL2_CACHE_DIR")
    if chosen:
        return os.path.abspath(os.path.expanduser(chosen))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jaxl2")


def machine_id() -> str:
    """A short digest of what makes timings and compiled code differ between machines: the
    processor model, the cores this process may use, the JAX version and the devices."""
    import hashlib
    import platform

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    devices = jax.devices()
    parts = [
        model,
        platform.machine(),
        str(available_cores()),
        jax.__version__,
        devices[0].platform,
        getattr(devices[0], "device_kind", ""),
        str(len(devices)),
        str(jax.process_count()),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


_compilation_cache_checked = False
MIN_COMPILE_SECONDS = 0.2


def enable_compilation_cache() -> str | None:
    """Turns JAX's persistent compilation cache on for this process, under jaxl2's cache home,
    unless the user configured it (``jax_compilation_cache_dir`` or JAX_COMPILATION_CACHE_DIR set,
    ``jax_enable_compilation_cache`` off) or opted out (JAXL2_COMPILATION_CACHE=0,
    JAXL2_CACHE_DIR=0). Checked once per process; returns the directory in use (None: off).

    The directory is per machine (:func:`machine_id`), so a home directory shared between
    machines never hands one machine's compiled code to another. Programs that compile in
    under MIN_COMPILE_SECONDS are not stored (JAX's default threshold, one second, is lowered
    to it unless the user changed it).
    """
    # (jax.config's stub declares none of JAX's flags as attributes: the ignores below.)
    global _compilation_cache_checked
    if _compilation_cache_checked:
        return jax.config.jax_compilation_cache_dir  # pyright: ignore[reportAttributeAccessIssue]
    _compilation_cache_checked = True
    if jax.config.jax_compilation_cache_dir is not None:  # pyright: ignore[reportAttributeAccessIssue]
        # The user's own setting.
        return jax.config.jax_compilation_cache_dir  # pyright: ignore[reportAttributeAccessIssue]
    home = cache_home()
    if (
        home is None
        or _env_off("JAXL2_COMPILATION_CACHE")
        or os.environ.get("JAX_COMPILATION_CACHE_DIR")
        or not jax.config.jax_enable_compilation_cache  # pyright: ignore[reportAttributeAccessIssue]
    ):
        return None
    path = os.path.join(home, "xla", machine_id())
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None  # a read-only home: run without the cache
    jax.config.update("jax_compilation_cache_dir", path)
    # 1.0 is JAX's default.
    if jax.config.jax_persistent_cache_min_compile_time_secs == 1.0:  # pyright: ignore[reportAttributeAccessIssue]
        # A sweep's programs often compile in under JAX's default second, yet a rerun still
        # saves that time; programs faster than this are not worth a file.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return path
