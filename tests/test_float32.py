"""tests/float32.py's bounds hold for float32 sums in any order: the
tolerances derived from them cannot be tighter than the arithmetic."""

import float32
import numpy as np


def test_sum_bound_covers_every_summation_order():
  rng = np.random.default_rng(0)
  for n in (10, 1000, 100_000):
    a = rng.standard_normal(n).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    exact = np.dot(a.astype(np.float64), b.astype(np.float64))
    magnitude = np.abs(a.astype(np.float64) * b).sum()
    products = a * b  # each rounded once
    orders = {"forward": np.cumsum(products, dtype=np.float32)[-1],
              "backward": np.cumsum(products[::-1], dtype=np.float32)[-1],
              "pairwise": np.sum(products, dtype=np.float32),
              "blas": np.dot(a, b)}
    for name, value in orders.items():
      # Each evaluation is within half of sum_bound of the exact value.
      assert abs(float(value) - exact) <= float32.sum_bound(n, magnitude) / 2, (n, name)


def test_bounds_grow_with_the_terms_and_the_layers():
  assert float32.gamma(1) == float32.U / (1 - float32.U)
  assert float32.sum_bound(100) < float32.sum_bound(1000)
  assert float32.network_bound(3, 100) == 3 * float32.sum_bound(100)
