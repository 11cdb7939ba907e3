"""jaxgan.compilation: the persistent compilation cache `jaxgan train` uses
(`--compilation_cache`), in subprocesses so that the suite's own compiles
stay out of it."""

import os
import subprocess
import sys

import pytest

from jaxgan import compilation

_SCRIPT = """
import sys
import jax, jax.numpy as jnp
from jaxgan import compilation
print("DIR", compilation.enable_persistent_cache(sys.argv[1], min_compile_time_s=0))
print("SUM", float(jax.jit(lambda x: jnp.sin(x) @ x.T)(jnp.ones((4, 4))).sum()))
"""
# XLA:CPU's loader refuses entries compiled for features it does not see on
# this CPU (jax-ml/jax#38445); the cache then compiles again.
_REJECTED = "doesn't match the machine type"


def _run(directory, env_extra=None):
  env = dict(os.environ, JAX_LOG_COMPILES="1", **(env_extra or {}))
  env.pop("JAX_COMPILATION_CACHE_DIR", None)
  out = subprocess.run([sys.executable, "-c", _SCRIPT, directory], env=env,
                       capture_output=True, text=True, timeout=120, check=True)
  return out.stdout + out.stderr


def test_a_second_process_loads_the_compiled_program(tmp_path):
  first = _run(str(tmp_path))
  used = next(line.split()[1] for line in first.splitlines() if line.startswith("DIR"))
  # One directory per kind of machine, inside the one given.
  assert used == os.path.join(str(tmp_path), compilation.host_fingerprint())
  assert os.listdir(used), "the first process wrote no cache entry"
  entries = sorted(os.listdir(used))
  second = _run(str(tmp_path))
  if _REJECTED in second:
    pytest.skip("XLA:CPU rejects its own cache entries on this CPU (jax-ml/jax#38445)")
  assert "Persistent compilation cache hit" in second, second[-2000:]
  assert sorted(os.listdir(used)) == entries
  assert [ln for ln in first.splitlines() if ln.startswith("SUM")] == [
      ln for ln in second.splitlines() if ln.startswith("SUM")]


def test_an_empty_directory_leaves_the_cache_off(tmp_path):
  out = _run("")
  assert "DIR None" in out
  assert "Persistent compilation cache hit" not in out


def test_the_fingerprint_names_jaxlib_and_the_cpu(monkeypatch):
  import jax
  first = compilation.host_fingerprint()
  assert len(first) == 16 and int(first, 16) >= 0
  monkeypatch.setattr(jax.lib, "__version__", jax.lib.__version__ + ".other")
  assert compilation.host_fingerprint() != first


def test_feature_extraction_is_compiled_with_the_training_steps_options():
  """FID's feature networks run convolutions in bulk: compiled as the step
  is (on CPU Eigen's convolutions, 2.3x YNNPACK's for the Inception)."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  from jaxgan.evaluation import _features
  kernel = np.ones((3, 3, 1, 4), np.float32)

  def apply(variables, images):
    x = jax.lax.conv_general_dilated(images.astype(jnp.float32) * variables, kernel,
                                     (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return {"features": x.mean((1, 2)), "logits": x.mean((1, 2, 3))[:, None]}

  net = _features.FeatureNet("test", apply, np.float32(1.0), "", (1,), "")
  run, _, _ = _features._runner(net, 8)
  assert isinstance(run.func, compilation.CompiledStep)
  assert run.func._options == compilation.compiler_options()
  out = net.extract(np.full((3, 8, 8, 1), 255, np.uint8), batch_size=8)
  # A 'SAME' 3x3 sum over an 8x8 image of 255s: 36 inner pixels see 9 taps,
  # 24 edge pixels 6, 4 corners 4; exact in float32 (integers below 2**24).
  np.testing.assert_array_equal(out["features"],
                                np.full((3, 4), 255 * (36 * 9 + 24 * 6 + 4 * 4) / 64))
