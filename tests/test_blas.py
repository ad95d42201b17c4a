"""float64 products through SciPy's BLAS as an XLA FFI call on CPU (jaxl2/_linear/blas.py).

Checked against numpy (1e-12 relative to the norm), under jit and vmap (batched, mixed and nested),
derivatives against XLA's products and central finite differences, a handler error surfacing as
an XLA error, a CUDA lowering with no custom call, routed ridge paths against closed forms, and
in child processes (under a hard timeout): programs in several Python threads with asynchronous
dispatch (no deadlock on the GIL) and JAX's persistent compilation cache found by a new process.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxl2
from jaxl2._linear import blas
from jaxl2._linear.ridge_path import _path_core

ROOT = Path(__file__).resolve().parent.parent
rng = np.random.default_rng(0)
TALL = rng.standard_normal((300, 120))  # 300·120·120 multiply-adds: routed from MIN_MACS = 2**20
WIDE = rng.standard_normal((80, 400))
RIGHT = rng.standard_normal((120, 90))
SIDE = rng.standard_normal((300, 70))


@pytest.fixture(autouse=True)
def small_route(monkeypatch):
    """Routes products from 2**20 multiply-adds, so small problems take the BLAS route."""
    jax.clear_caches()  # programs traced with the default threshold
    monkeypatch.setattr(blas, "MIN_MACS", 2**20)
    yield
    jax.clear_caches()


def close(a, b, tol=1e-12):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    assert np.linalg.norm(a - b) <= tol * np.linalg.norm(b)


def hlo(fn, *args, platform="cpu"):
    return jax.jit(fn).trace(*args).lower(lowering_platforms=(platform,)).as_text()


def test_products_match_numpy(x64):
    for fn, args, ref, target in [
        (blas.gram, (TALL,), TALL.T @ TALL, "syrk_tn"),
        (blas.gram_rows, (WIDE,), WIDE @ WIDE.T, "syrk_nt"),
        (blas.matmul, (TALL, RIGHT), TALL @ RIGHT, "gemm_nn"),
        (blas.tmatmul, (TALL, SIDE), TALL.T @ SIDE, "gemm_tn"),
    ]:
        assert f"custom_call @jaxl2_blas_{target}(" in hlo(fn, *args)
        close(fn(*args), ref)
        close(jax.jit(fn)(*args), ref)
    G = np.asarray(blas.gram(TALL))
    assert np.array_equal(G, G.T)  # both triangles filled


def test_routing_is_float64_large_and_enabled_only(x64, monkeypatch):
    A = jnp.asarray(TALL)
    assert "jaxl2_blas" not in hlo(blas.gram, A.astype(jnp.float32))
    assert "jaxl2_blas" not in hlo(blas.gram, A[:20, :10])  # too small
    close(blas.gram(TALL[:20, :10].astype(np.float32)), TALL[:20, :10].T @ TALL[:20, :10], 1e-6)
    monkeypatch.setattr(blas, "ENABLED", False)
    assert "jaxl2_blas" not in hlo(blas.gram, A)


def test_platform_dependent_keeps_xla_off_cpu(x64):
    jaxpr = str(jax.make_jaxpr(blas.gram)(TALL))
    assert "platform_index" in jaxpr
    cuda = hlo(blas.gram, TALL, platform="cuda")
    assert "jaxl2_blas" not in cuda and "dot_general" in cuda
    lams = jnp.asarray([1.0, 10.0])
    for X in (TALL, WIDE):
        traced = _path_core.trace(X, X[:, :2], None, lams, fit_intercept=True, standardize=False)
        assert "jaxl2_blas_syrk" in traced.lower(lowering_platforms=("cpu",)).as_text()
        assert "jaxl2_blas" not in traced.lower(lowering_platforms=("cuda",)).as_text()


def test_vmap(x64):
    stack = rng.standard_normal((3, 300, 120))
    close(jax.vmap(blas.gram)(stack), np.einsum("bki,bkj->bij", stack, stack))
    close(jax.jit(jax.vmap(blas.gram_rows))(stack), stack @ stack.transpose(0, 2, 1))
    close(jax.vmap(blas.matmul, (0, None))(stack, RIGHT), stack @ RIGHT)
    right = rng.standard_normal((4, 120, 90))
    close(jax.vmap(blas.matmul, (None, 0))(TALL, right), TALL @ right)
    mixed = jax.vmap(jax.vmap(blas.matmul, (0, None)), (None, 0))(stack, right)
    close(mixed, np.einsum("bik,ckj->cbij", stack, right))
    close(jax.vmap(blas.tmatmul, (0, None))(stack, SIDE), stack.transpose(0, 2, 1) @ SIDE)
    assert "jaxl2_blas_syrk_tn" in hlo(jax.vmap(blas.gram), stack)


def test_derivatives(x64):
    A, C = jnp.asarray(TALL), jnp.asarray(RIGHT)

    def f(A):
        return jnp.sum(jnp.sin(blas.gram(A) / 300)) + jnp.sum(jnp.square(blas.matmul(A, C))) / 1e4

    def g(A):
        return jnp.sum(jnp.sin(A.T @ A / 300)) + jnp.sum(jnp.square(A @ C)) / 1e4

    grad = jax.jit(jax.grad(f))(A)
    close(grad, jax.grad(g)(A), 1e-10)
    D = jnp.asarray(np.random.default_rng(1).standard_normal(A.shape))
    f_jit, h = jax.jit(f), 1e-5
    fd = (f_jit(A + h * D) - f_jit(A - h * D)) / (2 * h)
    assert abs(float(jnp.vdot(grad, D)) - float(fd)) <= 1e-6 * abs(float(fd))
    _, tangent = jax.jit(lambda A, D: jax.jvp(f, (A,), (D,)))(A, D)
    assert abs(float(tangent) - float(fd)) <= 1e-6 * abs(float(fd))
    rows, side = jnp.asarray(WIDE), jnp.asarray(SIDE)
    close(
        jax.grad(lambda W: jnp.sum(jnp.cos(blas.gram_rows(W) / 400)))(rows),
        jax.grad(lambda W: jnp.sum(jnp.cos(W @ W.T / 400)))(rows),
        1e-10,
    )
    close(
        jax.grad(lambda A, B: jnp.sum(jnp.sin(blas.tmatmul(A, B))), (0, 1))(A, side)[1],
        jax.grad(lambda A, B: jnp.sum(jnp.sin(A.T @ B)), (0, 1))(A, side)[1],
        1e-10,
    )


def test_handler_error_is_an_xla_error(x64):
    assert blas._register()
    call = jax.ffi.ffi_call("jaxl2_blas_syrk_tn", jax.ShapeDtypeStruct((3, 3), jnp.float32))
    with pytest.raises(Exception, match="jaxl2 BLAS handler: TypeError: .*float64"):
        call(jnp.ones((4, 3), jnp.float32)).block_until_ready()


def test_ridge_path_against_closed_forms(x64):
    """Primal (n > p) and dual (n < p) paths, both with routed Gram matrices, against numpy."""
    lams = np.asarray([0.1, 10.0])
    for X in (TALL, WIDE):
        n, p = X.shape
        y = X @ rng.standard_normal(p) + rng.standard_normal(n)
        path = jaxl2.ridge_path(X, y, lams)
        Xc, yc = X - X.mean(0), y - y.mean()
        for k, lam in enumerate(lams):
            w = np.linalg.solve(Xc.T @ Xc + lam * np.eye(p), Xc.T @ yc)
            close(path.coef[k], w, 1e-9)
            H = Xc @ np.linalg.solve(Xc.T @ Xc + lam * np.eye(p), Xc.T) + 1 / n
            loo = (y - H @ y) / (1 - np.diag(H))
            assert path.loo_mse is not None
            close(path.loo_mse[k], np.mean(loo**2), 1e-9)


def test_routed_calls_set_and_restore_blas_threads(x64, monkeypatch):
    """A routed product runs at blas.THREADS threads and puts the previous count back, so a
    one-thread limit for jaxlib's LAPACK calls does not hold the products to one thread."""
    assert blas._register()
    kernels = blas._registry["kernels"]
    assert kernels.threads is not None  # SciPy's OpenBLAS: its thread setters were found
    calls = []
    monkeypatch.setattr(kernels, "threads", (lambda: 1, calls.append))
    monkeypatch.setattr(blas, "THREADS", 3)
    close(blas.gram(TALL), TALL.T @ TALL)
    close(jax.jit(blas.matmul)(TALL, RIGHT), TALL @ RIGHT)
    assert calls == [3, 1, 3, 1]
    calls.clear()
    monkeypatch.setattr(kernels, "threads", (lambda: 3, calls.append))
    close(blas.gram(TALL), TALL.T @ TALL)
    assert calls == []  # already at 3: nothing set


def test_ridge_path_holds_lapack_at_one_thread_and_products_at_theirs(x64, monkeypatch):
    """Inside ridge_path SciPy's OpenBLAS is at one thread (for jaxlib's eigh), and each routed
    product raises it to blas.THREADS for its call and lowers it back."""
    assert blas._register()
    kernels = blas._registry["kernels"]
    get, put = kernels.threads
    seen = []
    monkeypatch.setattr(kernels, "threads", (get, lambda k: (seen.append(k), put(k))))
    monkeypatch.setattr(blas, "THREADS", 2)
    before = get()
    y = TALL @ rng.standard_normal(120)
    jaxl2.ridge_path(TALL, y, np.logspace(-1, 2, 4))
    assert seen and seen[0::2] == [2] * (len(seen) // 2) and seen[1::2] == [1] * (len(seen) // 2)
    assert get() == before  # the limit is lifted after the call


def test_default_threads_follow_openblas_environment(monkeypatch):
    for name in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    assert blas.default_threads() >= 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert blas.default_threads() == 3
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert blas.default_threads() == 2


def test_matrix_vector_products_stay_on_xla(x64):
    column = rng.standard_normal((300, 1))
    assert "jaxl2_blas" not in hlo(blas.tmatmul, TALL, np.tile(column, (1, 15)))
    assert "jaxl2_blas_gemm_tn" in hlo(blas.tmatmul, TALL, np.tile(column, (1, 40)))


def test_dual_path_coefficients_routed(x64):
    """n < p: the Gram matrix (syrk) and the coefficients Xsᵀ(U·M) (gemm "tn") take BLAS."""
    X = rng.standard_normal((200, 1000))
    y = X[:, :5] @ np.ones(5) + rng.standard_normal(200)
    lams = np.logspace(-1, 3, 16)
    text = hlo(lambda X, y: jaxl2.ridge_path(X, y, lams).coef, X, y)
    assert "jaxl2_blas_syrk_nt" in text and "jaxl2_blas_gemm_tn" in text
    path = jaxl2.ridge_path(X, y, lams)
    Xc, yc = X - X.mean(0), y - y.mean()
    for k in (0, 15):  # w = Xcᵀ (XcXcᵀ + lam I)⁻¹ yc
        w = Xc.T @ np.linalg.solve(Xc @ Xc.T + lams[k] * np.eye(200), yc)
        close(path.coef[k], w, 1e-9)


def run_child(script, *args, timeout=240):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


_CHILD = """
    import sys, threading
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_compilation_cache_dir", sys.argv[1])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    events = []
    jax.monitoring.register_event_listener(lambda name, **kw: events.append(name))
    import jaxl2
    from jaxl2._linear import blas
    blas.MIN_MACS = 2**20
    rng = np.random.default_rng(1)
    problems = [rng.standard_normal((600, 150)) for _ in range(3)]
    targets = [X @ rng.standard_normal(150) for X in problems]
    lams = np.logspace(-2, 3, 7)
    stack = rng.standard_normal((4, 300, 120))
    grams = np.einsum("bki,bkj->bij", stack, stack)
    solo = [jaxl2.ridge_path(X, y, lams).coef for X, y in zip(problems, targets)]
    gram, vgram = jax.jit(blas.gram), jax.jit(jax.vmap(blas.gram))
    out = {}
    def work(i):
        pending = [gram(stack[j % 4]) for j in range(8)]  # dispatched asynchronously
        for _ in range(2):
            out[i] = jaxl2.ridge_path(problems[i], targets[i], lams).coef
            out[i, "vmap"] = vgram(stack)
        out[i, "async"] = [np.asarray(p) for p in pending]
    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    for i in range(3):
        assert np.allclose(out[i], solo[i], rtol=1e-12, atol=1e-12)
        assert np.allclose(out[i, "vmap"], grams, rtol=1e-12, atol=1e-12)
        for j, p in enumerate(out[i, "async"]):
            assert np.allclose(p, grams[j % 4], rtol=1e-12, atol=1e-12)
    print(events.count("/jax/compilation_cache/cache_hits"), "hits")
"""


def test_threads_async_dispatch_and_persistent_cache_in_new_processes(tmp_path):
    """Three Python threads running routed programs, with asynchronous dispatch, finish (the
    handler takes the GIL on XLA's threads: no deadlock) with the single-threaded answers; the
    programs are stored in JAX's persistent compilation cache and a second process loads them."""
    assert run_child(_CHILD, str(tmp_path)) == "0 hits"
    assert any(tmp_path.iterdir())
    assert run_child(_CHILD, str(tmp_path)) != "0 hits"
