"""Command line: ``python -m jaxl2 demo``."""

from __future__ import annotations

import argparse
import sys
import time


def _demo(args: argparse.Namespace) -> int:
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    import jaxl2

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    Xtr, Xva, ytr, yva = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    Xtr, Xva, ytr, yva = map(jnp.asarray, (Xtr, Xva, ytr, yva))

    def init(key):
        k1, k2 = jax.random.split(key)
        return {
            "hidden": {"kernel": jax.random.normal(k1, (64, 128)) * 0.125, "bias": jnp.zeros(128)},
            "out": {"kernel": jax.random.normal(k2, (128, 10)) * 0.09, "bias": jnp.zeros(10)},
        }

    def logits(p, x):
        h = jax.nn.relu(x @ p["hidden"]["kernel"] + p["hidden"]["bias"])
        return h @ p["out"]["kernel"] + p["out"]["bias"]

    def loss(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(logits(p, x), y).mean()

    def accuracy(p, x, y):
        return jnp.mean(jnp.argmax(logits(p, x), -1) == y)

    def train(tx):
        @jax.jit
        def run(params):
            def step(carry, _):
                p, s = carry
                g = jax.grad(loss)(p, Xtr, ytr)
                u, s = tx.update(g, s, p)
                return (optax.apply_updates(p, u), s), None

            (p, _), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=args.steps)
            return p

        return run(init(jax.random.key(args.seed)))

    lr = 3e-3
    runs = [
        ("no decay", optax.adam(lr)),
        (f"Adam + L2 (adam_l2, {args.l2:g})", jaxl2.adam_l2(lr, args.l2, mask="weights")),
        (
            f"AdamW (adamw, {args.weight_decay:g})",
            jaxl2.adamw(lr, args.weight_decay, mask="weights"),
        ),
    ]
    print(
        f"MLP 64-128-10 on scikit-learn digits ({len(ytr)} train / {len(yva)} validation), "
        f"{args.steps} full-batch Adam steps, lr={lr}, decay on weight matrices only\n"
    )
    header = f"{'optimizer':<30} {'train acc':>9} {'val acc':>8} {'gap':>7} {'‖W‖':>7} {'time':>7}"
    print(header)
    print("-" * len(header))
    for name, tx in runs:
        t0 = time.perf_counter()
        p = jax.block_until_ready(train(tx))
        dt = time.perf_counter() - t0
        tr, va = float(accuracy(p, Xtr, ytr)), float(accuracy(p, Xva, yva))
        norm = float(jaxl2.weight_norms(p, mask="weights").total)
        print(f"{name:<30} {tr:>9.3f} {va:>8.3f} {tr - va:>7.3f} {norm:>7.2f} {dt:>6.1f}s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jaxl2", description="jaxl2 command line")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="no decay vs Adam+L2 vs AdamW on digits")
    demo.add_argument("--steps", type=int, default=300)
    demo.add_argument("--l2", type=float, default=1e-3)
    demo.add_argument("--weight-decay", type=float, default=1e-1)
    demo.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    return _demo(args)


if __name__ == "__main__":
    sys.exit(main())
