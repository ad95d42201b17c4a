"""float32 comparisons relative to the norm of the reference vector.

float32 results depend on the BLAS, the thread count and the machine (a coefficient of 10.4289
on one machine was 10.4174 on another); an element-wise rtol/atol is then flaky for the small
entries of a well-determined vector. These helpers bound the largest entry-wise error by
``rel · ‖expected‖₂`` instead.
"""

import numpy as np


def assert_close_to_norm(actual, expected, rel):
    """``max |actual − expected| ≤ rel · ‖expected‖₂`` (arrays of any shape, flattened)."""
    a = np.asarray(actual, np.float64).ravel()
    e = np.asarray(expected, np.float64).ravel()
    assert a.shape == e.shape, (a.shape, e.shape)
    err = float(np.max(np.abs(a - e), initial=0.0))
    bound = rel * float(np.linalg.norm(e))
    assert err <= bound, f"max error {err:.3g} > {rel:g}·‖expected‖ = {bound:.3g}"
