"""This machine's float32 matmul throughput, the yardstick every benchmark
here divides by (measured in the same run as what it compares)."""

import time

import jax
import jax.numpy as jnp
import numpy as np


def median_time(fn, repeats=10):
  """Median seconds of `repeats` calls of `fn`, after one untimed call."""
  fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def matmul_gflops(n: int, device: str = "cpu") -> dict:
  """float32 n x n x n matmul throughput of XLA and (when PyTorch is
  installed) of PyTorch, in GFLOP/s."""
  flops = 2 * n ** 3
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
  dot = jax.jit(jnp.dot)
  out = {"xla": flops / median_time(lambda: dot(a, a).block_until_ready()) / 1e9}
  try:
    import torch
  except ImportError:
    return out
  t = torch.randn(n, n, device=device)
  sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

  def torch_mm():
    torch.mm(t, t)
    sync()
  out["torch"] = flops / median_time(torch_mm) / 1e9
  return out
