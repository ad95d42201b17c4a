"""float64 products through the platform's BLAS on CPU as an XLA FFI call; XLA's elsewhere.

XLA:CPU's float64 ``dot`` is a generic Eigen kernel with no symmetric rank-k product: on an Intel
Xeon (2 vCPU) ``XᵀX`` for 20000 × 500 took 0.28–0.47 s against 0.07–0.1 s for numpy/OpenBLAS
(one ``dsyrk``, half the flops), which kept :func:`jaxl2.ridge_path` at 2.4× the numpy floor in
float64 (issue 15). No XLA flag closes the gap, and a library cannot set ``XLA_FLAGS`` anyway.

So :func:`gram` (``AᵀA``), :func:`gram_rows` (``AAᵀ``), :func:`matmul` (``AB``) and
:func:`tmatmul` (``AᵀB``) run, for large float64 operands:

- on CPU, as a named XLA custom call (:func:`jax.ffi.ffi_call`) whose handler calls SciPy's BLAS
  (``scipy.linalg.cython_blas``: ``dsyrk``/``dgemm``) on XLA's own buffers: no copy of any
  operand or result. The handler needs no compiled extension: it is a Python function made a C
  function pointer by :mod:`ctypes` (``XLA_FFI_Error* handler(XLA_FFI_CallFrame*)``, the structs
  of ``xla/ffi/api/c_api.h`` in ``jax.ffi.include_dir()``), registered once, lazily, with
  :func:`jax.ffi.register_ffi_target`. It holds the GIL except inside BLAS: the BLAS call
  releases it (a :mod:`ctypes` foreign call), so programs in several Python threads overlap.
  Since the program holds a named custom call and no Python callback, JAX's persistent
  compilation cache stores it and a new process loads it (the handler is registered while the
  program is traced, before the cache is read);
- under :func:`jax.vmap`, as one call over the whole batch (``vmap_method="expand_dims"``): the
  handler loops over the batch in C order, an operand not batched is read in place for every item;
- with derivatives from a :func:`jax.custom_jvp` whose tangent products are XLA's own
  ``dot_general`` (linear, hence transposable for :func:`jax.grad`): gradients are exact, only the
  forward product takes the BLAS route;
- on GPU/TPU as XLA's product: :func:`jax.lax.platform_dependent` lowers only the ``default``
  branch there (a program lowered for CUDA holds no custom call of this module);
- at :data:`THREADS` BLAS threads (default: OpenBLAS's own default, :func:`default_threads`):
  the handler sets the library's thread count for the call and puts the previous one back.
  That count is process-wide, and solvers hold it at one thread while their programs run
  (:func:`jaxl2._linear.lapack_threads.single_threaded_blas`: jaxlib's LAPACK calls, ``eigh``
  among them, go through the same OpenBLAS and thrash against XLA's thread pool on few cores),
  which would otherwise leave the products on one thread while numpy's use every core.
  Routed calls take a lock, so two of them never interleave their settings; a LAPACK call
  running at the same moment on another of XLA's threads sees the raised count.

float32 (XLA's float32 kernels are on par with BLAS), other dtypes, products under
:data:`MIN_MACS` multiply-adds or with a side under :data:`MIN_SIDE`, and dimensions of 2³¹ or
more (SciPy's BLAS takes 32-bit integers) stay on XLA; so does everything when SciPy is missing
or :data:`ENABLED` is False.

On that Xeon (process CPU time, OpenBLAS at one thread; wall times were meaningless under the
load): ``XᵀX`` 20000 × 500 0.10–0.14 s routed, 0.44 s XLA, 0.10 s numpy; the exact-LOO
:func:`jaxl2.ridge_path` (K = 100) 0.57 s routed against 0.93 s on XLA (floor 0.40 s) at
20000 × 500, 0.16 against 0.24 s (floor 0.10 s) at 10000 × 300. XLA's ``AB`` products (``X·V``,
``(U∘U)·F``) are as fast as BLAS's at one thread (2097 × 500 by 500: 15.9 against 16.7 ms;
by 100: 3.3 against 4.5 ms, the handler's fixed cost showing), its ``AᵀB`` products 2× slower
(2000 × 524 by 100: 10 against 5.3 ms), so the paths route their Gram matrices
(``ridge_chunks``) and the dual's coefficients ``Xsᵀ(U·M)`` (``ridge_path``) only.

Limits: the handler is Python, so it needs a live interpreter: a program still running while the
interpreter shuts down cannot enter it (as for :func:`jax.pure_callback`). The targets are
registered when a routed product is first traced: a serialized program (:mod:`jax.export`) that
holds them, run in a process that has traced none, needs ``blas._register()`` first.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpy.ctypeslib  # noqa: F401  (imported here: the handler must not import)
from jax.custom_derivatives import SymbolicZero

from .._typing import ArrayLike

# Products with fewer multiply-adds than this stay on XLA. Measured on a busy 2-vCPU Intel Xeon
# (OpenBLAS at one thread, medians): a 64 × 8 Gram matrix 160 µs routed against 70 µs on XLA (the
# handler's fixed cost), 512 × 32 (2**19) 140 against 220 µs, 2048 × 45 (2**22) 0.46 against
# 1.7 ms, 4096 × 256 (2**28) 33 against 106 ms.
MIN_MACS = 2**22

# Products with a side shorter than this stay on XLA: ``dgemm`` as a matrix-vector product was
# 3× slower than XLA's (``XᵀY``, 20000 × 500 by one target: 16 against 5.9 ms).
MIN_SIDE = 16

# False: every product stays on XLA (benchmarks compare both routes).
ENABLED = True

# BLAS threads for a routed product: None for OpenBLAS's default (default_threads()), an int to
# fix it. Each routed call sets its library's (process-wide) thread count to this for the call
# and restores the previous count after, so a limit put on the library for jaxlib's LAPACK
# calls (lapack_threads.single_threaded_blas: LAPACK's small calls on many threads thrash on
# few cores) does not leave the products on one thread.
THREADS: int | None = None

_INT_MAX = 2**31 - 1
_PREFIX = "jaxl2_blas_"

_DIMS = {
    "nn": (((1,), (0,)), ((), ())),  # A B
    "tn": (((0,), (0,)), ((), ())),  # Aᵀ B
    "nt": (((1,), (1,)), ((), ())),  # A Bᵀ
}


def _contract(A: jax.Array, B: jax.Array, mode: str) -> jax.Array:
    """XLA's ``AB`` (``"nn"``), ``AᵀB`` (``"tn"``) or ``ABᵀ`` (``"nt"``) of 2-D operands."""
    return jax.lax.dot_general(A, B, _DIMS[mode])


# --- The FFI handler: ctypes mirrors of xla/ffi/api/c_api.h (XLA FFI API 0.x) ----------------

_p = ctypes.POINTER


class _ExtensionBase(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("type", ctypes.c_int), ("next", ctypes.c_void_p)]


class _ApiVersion(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("extension_start", ctypes.c_void_p),
        ("major_version", ctypes.c_int),
        ("minor_version", ctypes.c_int),
    ]


class _Metadata(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("api_version", _ApiVersion),
        ("traits", ctypes.c_uint32),
        ("state_type_id", ctypes.c_int64),
    ]


class _MetadataExtension(ctypes.Structure):
    _fields_ = [("extension_base", _ExtensionBase), ("metadata", _p(_Metadata))]


class _Buffer(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("extension_start", ctypes.c_void_p),
        ("dtype", ctypes.c_int),
        ("data", ctypes.c_void_p),
        ("rank", ctypes.c_int64),
        ("dims", _p(ctypes.c_int64)),
    ]


class _Buffers(ctypes.Structure):  # XLA_FFI_Args and XLA_FFI_Rets share this layout
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("extension_start", ctypes.c_void_p),
        ("size", ctypes.c_int64),
        ("types", _p(ctypes.c_int)),
        ("buffers", _p(_p(_Buffer))),
    ]


class _Attrs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("extension_start", ctypes.c_void_p),
        ("size", ctypes.c_int64),
        ("types", ctypes.c_void_p),
        ("names", ctypes.c_void_p),
        ("attrs", ctypes.c_void_p),
    ]


class _CallFrame(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("extension_start", _p(_ExtensionBase)),
        ("api", ctypes.c_void_p),
        ("ctx", ctypes.c_void_p),
        ("stage", ctypes.c_int),
        ("args", _Buffers),
        ("rets", _Buffers),
        ("attrs", _Attrs),
    ]


class _ErrorCreateArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("extension_start", ctypes.c_void_p),
        ("message", ctypes.c_char_p),
        ("errc", ctypes.c_int),
    ]


_ERROR_CREATE = ctypes.CFUNCTYPE(ctypes.c_void_p, _p(_ErrorCreateArgs))


class _Api(ctypes.Structure):  # the leading fields of XLA_FFI_Api
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("extension_start", ctypes.c_void_p),
        ("api_version", _ApiVersion),
        ("internal_api", ctypes.c_void_p),
        ("error_create", _ERROR_CREATE),
    ]


_HANDLER = ctypes.CFUNCTYPE(ctypes.c_void_p, _p(_CallFrame))
_METADATA = 1  # XLA_FFI_Extension_Metadata
_EXECUTE = 3  # XLA_FFI_ExecutionStage_EXECUTE
_F64 = 12  # XLA_FFI_DataType_F64
_INTERNAL = 13  # XLA_FFI_Error_Code_INTERNAL

_int_p, _dbl_p, _chr = _p(ctypes.c_int), _p(ctypes.c_double), ctypes.c_char_p
_DGEMM = ctypes.CFUNCTYPE(
    None, _chr, _chr, _int_p, _int_p, _int_p, _dbl_p, ctypes.c_void_p, _int_p,
    ctypes.c_void_p, _int_p, _dbl_p, ctypes.c_void_p, _int_p,
)  # fmt: skip
_DSYRK = ctypes.CFUNCTYPE(
    None, _chr, _chr, _int_p, _int_p, _dbl_p, ctypes.c_void_p, _int_p, _dbl_p, ctypes.c_void_p,
    _int_p,
)  # fmt: skip


def _scipy_blas() -> tuple[Any, Any, tuple[Any, Any] | None] | None:
    """``(dgemm, dsyrk, thread setters)`` of SciPy's BLAS as ctypes functions (Fortran
    convention: every argument by pointer, column-major), or None without SciPy."""
    try:
        from scipy.linalg import cython_blas  # pyright: ignore[reportAttributeAccessIssue]
    except ImportError:
        return None
    # Private prototypes: setting argtypes on ctypes.pythonapi's shared functions would leak.
    get_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(
        ("PyCapsule_GetName", ctypes.pythonapi)
    )
    get_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
        ("PyCapsule_GetPointer", ctypes.pythonapi)
    )

    def pointer(name: str) -> int:
        capsule = cython_blas.__pyx_capi__[name]  # pyright: ignore[reportAttributeAccessIssue]
        return get_pointer(capsule, get_name(capsule))

    dgemm = pointer("dgemm")
    return _DGEMM(dgemm), _DSYRK(pointer("dsyrk")), _thread_setters(dgemm)


class _DlInfo(ctypes.Structure):
    _fields_ = [
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    ]


def _thread_setters(address: int) -> tuple[Any, Any] | None:
    """``(get, set)`` of the OpenBLAS thread count of the library holding code ``address`` (the
    BLAS under SciPy), or None when that library is not an OpenBLAS or cannot be found."""
    try:
        dladdr = ctypes.CDLL(None).dladdr
        info = _DlInfo()
        if not dladdr(ctypes.c_void_p(address), ctypes.byref(info)) or not info.dli_fname:
            return None
        lib = ctypes.CDLL(info.dli_fname.decode())
    except (OSError, AttributeError, UnicodeDecodeError):  # no dladdr (Windows), odd path
        return None
    for prefix in ("scipy_openblas", "openblas"):
        for suffix in ("", "64_"):
            get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and put is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                put.restype, put.argtypes = None, [ctypes.c_int]
                return get, put
    return None


def default_threads() -> int:
    """Threads for a routed product when :data:`THREADS` is None: OpenBLAS's own default, i.e.
    ``OPENBLAS_NUM_THREADS``, ``GOTO_NUM_THREADS`` or ``OMP_NUM_THREADS`` (the first set), else
    the cores this process may run on."""
    for name in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").split(",")[0].strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _matrices(buffer: _Buffer) -> tuple[int, tuple[int, ...], tuple[int, int]]:
    """(data address, batch shape, matrix shape) of a float64 buffer of rank ≥ 2."""
    if buffer.dtype != _F64 or buffer.rank < 2:
        raise TypeError(f"jaxl2 BLAS: expected a float64 matrix buffer, got dtype {buffer.dtype}")
    dims = tuple(buffer.dims[i] for i in range(buffer.rank))
    return buffer.data or 0, dims[:-2], (dims[-2], dims[-1])


def _batch_offsets(batch: tuple[int, ...], full: tuple[int, ...], size: int) -> np.ndarray:
    """Byte offsets of each item of a ``full`` batch in an operand of batch shape ``batch`` (1s
    where the operand is not batched: ``vmap_method="expand_dims"``) and ``size`` entries each."""
    index = np.arange(int(np.prod(batch)), dtype=np.int64).reshape(batch)
    return np.broadcast_to(index, full).ravel() * (8 * size)


def _fill_upper(address: int, m: int) -> None:
    """Copies the lower triangle of a row-major m × m matrix onto its upper triangle."""
    C = np.ctypeslib.as_array(ctypes.cast(address, _dbl_p), (m, m))
    for i in range(0, m, 64):  # blocks: 20× faster than one fancy-indexed copy
        j = min(i + 64, m)
        C[i:j, j:] = C[j:, i:j].T
        block = C[i:j, i:j]
        np.copyto(block, block.T, where=np.tri(j - i, dtype=bool).T)


class _Kernels:
    """The handlers' bodies: BLAS on the raw row-major buffers.

    A row-major (r, c) matrix is the column-major (c, r) matrix of its transpose, so a row-major
    ``C = op(A) op(B)`` is the column-major ``Cᵀ = op(B)ᵀ op(A)ᵀ``: operands swapped, transposes
    kept.
    """

    def __init__(self, dgemm: Any, dsyrk: Any, threads: tuple[Any, Any] | None) -> None:
        self.dgemm, self.dsyrk = dgemm, dsyrk
        self.one, self.zero = ctypes.c_double(1.0), ctypes.c_double(0.0)
        self.threads = threads
        self.lock = threading.Lock()  # one routed call at a time sets the thread count

    @contextlib.contextmanager
    def threaded(self) -> Iterator[None]:
        """The BLAS calls of one routed product, at :data:`THREADS` threads."""
        if self.threads is None:
            yield
            return
        get, put = self.threads
        want = THREADS or default_threads()
        with self.lock:  # waiting releases the GIL; BLAS's own lock would serialize anyway
            before = get()
            if before != want:
                put(want)
            try:
                yield
            finally:
                if before != want:
                    put(before)

    def syrk(self, frame: _CallFrame, mode: str) -> None:
        """``C = AᵀA`` (``"tn"``, A (k, m)) or ``C = AAᵀ`` (``"nt"``, A (m, k))."""
        a, batch, (r, c) = _matrices(frame.args.buffers[0].contents)
        out, _, _ = _matrices(frame.rets.buffers[0].contents)
        m, k = (c, r) if mode == "tn" else (r, c)
        # Column-major: A is Aᵀ (c × r, ld c); "tn": C = (Aᵀ)(Aᵀ)ᵀ is syrk "N" of Aᵀ; "nt":
        # C = (Aᵀ)ᵀ(Aᵀ) is syrk "T". "U" fills the column-major upper = row-major lower triangle.
        trans = b"N" if mode == "tn" else b"T"
        m_, k_, ld = ctypes.c_int(m), ctypes.c_int(k), ctypes.c_int(c)
        for item in range(int(np.prod(batch))):
            A, C = a + 8 * r * c * item, out + 8 * m * m * item
            with self.threaded():
                self.dsyrk(b"U", trans, m_, k_, self.one, A, ld, self.zero, C, m_)
            _fill_upper(C, m)

    def gemm(self, frame: _CallFrame, mode: str) -> None:
        """``C = AB`` (``"nn"``) or ``C = AᵀB`` (``"tn"``), operands broadcast over the batch."""
        a, batch_a, (ra, ca) = _matrices(frame.args.buffers[0].contents)
        b, batch_b, (rb, cb) = _matrices(frame.args.buffers[1].contents)
        out, batch, (m, n) = _matrices(frame.rets.buffers[0].contents)
        k = ra if mode == "tn" else ca
        # Column-major Cᵀ (n × m) = Bᵀ (n × k, ld cb) · op(Aᵀ): Aᵀ is (ca × ra, ld ca), op = "T"
        # for "tn" (op(Aᵀ) = A, k × m).
        trans_a = b"T" if mode == "tn" else b"N"
        m_, n_, k_ = ctypes.c_int(m), ctypes.c_int(n), ctypes.c_int(k)
        lda, ldb = ctypes.c_int(ca), ctypes.c_int(cb)
        offsets_a = _batch_offsets(batch_a, batch, ra * ca)
        offsets_b = _batch_offsets(batch_b, batch, rb * cb)
        with self.threaded():
            for item in range(offsets_a.size):
                A, B = a + int(offsets_a[item]), b + int(offsets_b[item])
                C = out + 8 * m * n * item
                self.dgemm(b"N", trans_a, n_, m_, k_, self.one, B, ldb, A, lda, self.zero, C, n_)


def _handler(body: Any) -> Any:
    """A ctypes FFI handler running ``body(frame)`` at the execute stage."""

    def handler(frame_pointer: Any) -> int | None:
        frame = frame_pointer.contents
        extension = frame.extension_start
        if extension and extension.contents.type == _METADATA:
            # XLA asks which FFI API version the handler was written against (api.h does this).
            metadata = ctypes.cast(extension, _p(_MetadataExtension)).contents.metadata.contents
            metadata.api_version.struct_size = ctypes.sizeof(_ApiVersion)
            metadata.api_version.extension_start = None
            metadata.api_version.major_version = 0
            metadata.api_version.minor_version = 1
            metadata.traits = 0
            return None
        if frame.stage != _EXECUTE:
            return None
        try:
            body(frame)
        except Exception as error:  # an FFI error, not a silent wrong result
            api = ctypes.cast(frame.api, _p(_Api)).contents
            message = f"jaxl2 BLAS handler: {type(error).__name__}: {error}".encode()
            args = _ErrorCreateArgs(ctypes.sizeof(_ErrorCreateArgs), None, message, _INTERNAL)
            return api.error_create(ctypes.byref(args))
        return None

    return _HANDLER(handler)


_TARGETS = ("syrk_tn", "syrk_nt", "gemm_nn", "gemm_tn")
_registry: dict[str, Any] = {}  # the ctypes handlers, alive for the whole process
_lock = threading.Lock()


def _register() -> bool:
    """Registers the FFI targets once; False when SciPy's BLAS is unavailable."""
    with _lock:
        if not _registry:
            blas = _scipy_blas()
            if blas is None:
                _registry["unavailable"] = None
                return False
            kernels = _Kernels(*blas)
            _registry["kernels"] = kernels
            for target in _TARGETS:
                kind, mode = target.split("_")
                method = getattr(kernels, kind)
                handler = _handler(lambda frame, method=method, mode=mode: method(frame, mode))
                _registry[target] = handler
                jax.ffi.register_ffi_target(_PREFIX + target, jax.ffi.pycapsule(handler), "cpu")
        return "unavailable" not in _registry


# --- Routing ------------------------------------------------------------------------------------


def _shape(A: jax.Array, B: jax.Array, mode: str) -> tuple[int, int, int]:
    """(m, k, n) of the product."""
    m, k = (A.shape[1], A.shape[0]) if mode == "tn" else A.shape
    return m, k, B.shape[0] if mode == "nt" else B.shape[1]


def routed(A: jax.Array, B: jax.Array, mode: str) -> bool:
    """Whether the product (``mode`` as in :func:`_contract`) takes the BLAS route on CPU."""
    if not ENABLED or A.ndim != 2 or B.ndim != 2:
        return False
    if A.dtype != jnp.float64 or B.dtype != jnp.float64:
        return False
    m, k, n = _shape(A, B, mode)
    if m * k * n < MIN_MACS or min(m, k, n) < MIN_SIDE or max(*A.shape, *B.shape) > _INT_MAX:
        return False
    return _register()


def _blas_or_xla(A: jax.Array, B: jax.Array | None, mode: str) -> jax.Array:
    """The product (``B = None``: the Gram matrix of A), through BLAS on CPU and XLA elsewhere."""
    m, _, n = _shape(A, A if B is None else B, mode)
    operands = (A,) if B is None else (A, B)
    target = _PREFIX + ("syrk_" if B is None else "gemm_") + mode
    call = jax.ffi.ffi_call(
        target, jax.ShapeDtypeStruct((m, n), A.dtype), vmap_method="expand_dims"
    )
    return jax.lax.platform_dependent(
        *operands, cpu=call, default=lambda *xs: _contract(xs[0], xs[-1], mode)
    )


def _make(mode: str) -> Any:
    """The custom_jvp product of two independent operands."""

    @jax.custom_jvp
    def product(A: jax.Array, B: jax.Array) -> jax.Array:
        return _blas_or_xla(A, B, mode)

    def jvp(primals: tuple, tangents: tuple) -> tuple:
        (A, B), (dA, dB) = primals, tangents
        parts = []
        if not isinstance(dA, SymbolicZero):
            parts.append(_contract(dA, B, mode))
        if not isinstance(dB, SymbolicZero):
            parts.append(_contract(A, dB, mode))
        out = product(A, B)
        tangent = sum(parts[1:], parts[0]) if parts else jnp.zeros_like(out)
        return out, tangent

    product.defjvp(jvp, symbolic_zeros=True)
    return product


def _make_gram(mode: str) -> Any:
    """The custom_jvp ``AᵀA`` (``"tn"``) or ``AAᵀ`` (``"nt"``)."""

    @jax.custom_jvp
    def product(A: jax.Array) -> jax.Array:
        return _blas_or_xla(A, None, mode)

    def jvp(primals: tuple, tangents: tuple) -> tuple:
        (A,), (dA,) = primals, tangents
        half = _contract(dA, A, mode)  # dAᵀA (or dA Aᵀ); the tangent is half + halfᵀ
        return product(A), half + half.T

    product.defjvp(jvp)
    return product


_PRODUCTS = {mode: _make(mode) for mode in ("nn", "tn")}
_GRAMS = {mode: _make_gram(mode) for mode in ("tn", "nt")}


def _gram_product(A: ArrayLike, mode: str) -> jax.Array:
    A = jnp.asarray(A)
    return _GRAMS[mode](A) if routed(A, A, mode) else _contract(A, A, mode)


def _product(A: ArrayLike, B: ArrayLike, mode: str) -> jax.Array:
    A, B = jnp.asarray(A), jnp.asarray(B)
    return _PRODUCTS[mode](A, B) if routed(A, B, mode) else _contract(A, B, mode)


def matmul(A: ArrayLike, B: ArrayLike) -> jax.Array:
    """``A @ B`` for 2-D ``A`` (m, k) and ``B`` (k, n): BLAS ``dgemm`` on CPU in float64.

    Examples:
        >>> import numpy as np
        >>> from jaxl2._linear.blas import matmul
        >>> A, B = np.arange(6.0).reshape(2, 3), np.ones((3, 2))  # small: XLA's product
        >>> print(np.asarray(matmul(A, B)))
        [[ 3.  3.]
         [12. 12.]]
    """
    return _product(A, B, "nn")


def tmatmul(A: ArrayLike, B: ArrayLike) -> jax.Array:
    """``Aᵀ B`` for 2-D ``A`` (k, m) and ``B`` (k, n): BLAS ``dgemm`` on CPU in float64.

    Examples:
        >>> import numpy as np
        >>> from jaxl2._linear.blas import tmatmul
        >>> A, B = np.arange(6.0).reshape(3, 2), np.ones((3, 1))
        >>> print(np.asarray(tmatmul(A, B)))
        [[6.]
         [9.]]
    """
    return _product(A, B, "tn")


def gram(A: ArrayLike) -> jax.Array:
    """``AᵀA`` for 2-D ``A`` (k, m): BLAS's symmetric rank-k product on CPU in float64.

    Examples:
        >>> import numpy as np
        >>> from jaxl2._linear.blas import gram
        >>> print(np.asarray(gram(np.array([[1.0, 2.0], [3.0, 4.0]]))))
        [[10. 14.]
         [14. 20.]]
    """
    return _gram_product(A, "tn")


def gram_rows(A: ArrayLike) -> jax.Array:
    """``AAᵀ`` for 2-D ``A`` (m, k): BLAS's symmetric rank-k product on CPU in float64.

    Examples:
        >>> import numpy as np
        >>> from jaxl2._linear.blas import gram_rows
        >>> print(np.asarray(gram_rows(np.array([[1.0, 2.0], [3.0, 4.0]]))))
        [[ 5. 11.]
         [11. 25.]]
    """
    return _gram_product(A, "nt")
