"""The benchmark scripts run and print what they promise."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, one_device_env

TINY = ["--image_size=28", "--channels=1", "--batch_size=16", "--width=8",
        "--warmup=1", "--steps=2"]


def _run(script, *args):
  # One device, and compiling dominates: XLA's backend optimisations off, as
  # in conftest; timings are printed, not checked.
  env = one_device_env()
  result = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args],
                          capture_output=True, text=True, env=env, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout[result.stdout.index("{"):])


def test_step_throughput_prints_timings_and_flops():
  report = _run("step_throughput.py", *TINY, "--steps_per_call=3")
  assert report["steps_per_call"] == 3
  assert report["median_ms_per_step"] > 0 and report["compile_s"] > 0
  # median_ms_per_step is printed rounded to 0.1 ms and images_per_s to 0.1
  # (not float32 error): 16e3 / median is off the true rate by a relative
  # <= a = 0.05 / (median - 0.05), images_per_s by b = 0.05 / (images_per_s
  # - 0.05); together a + b + a b (float64's error is ~1e-16).
  median = report["median_ms_per_step"]
  a, b = 0.05 / (median - 0.05), 0.05 / (report["images_per_s"] - 0.05)
  assert report["images_per_s"] == pytest.approx(16 / median * 1e3, rel=a + b + a * b)
  assert report["step_gflop"] > 0
  memory = report["step_memory_mb"]  # the state (both players, Adam, EMA) and more
  assert 0 < memory["arguments"] <= memory["peak"] < report["peak_rss_mb"]


@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="PyTorch is a benchmark-only extra: pip install -e '.[bench]'")
def test_compare_pytorch_times_both_frameworks():
  report = _run("compare_pytorch.py", "--image_size=32", "--channels=1", "--batch_size=16",
                "--width=8", "--warmup=1", "--steps=2", "--matmul_size=256")
  assert report["steps_per_call"] == 10  # the DCGAN config's, as launch.py trains
  assert report["steps_timed"] == 2 * 10
  assert report["jaxgan_ms"] > 0 and report["pytorch_ms"] > 0
  assert 0 < report["jaxgan_fraction_of_matmul_peak"]
  assert 0 < report["pytorch_fraction_of_matmul_peak"]
  assert 0 < report["jaxgan_compile_s"]
  assert 0 < report["jaxgan_step_memory_mb"]["peak"] < report["process_peak_rss_mb"]


def test_scaling_prints_the_three_tables():
  # One sweep size: a sweep of 1 member is the same code (and another
  # compile of the default config's step: 6-7 s).
  report = _run("scaling.py", "--batches=8,16", "--sizes=28", "--members=2", "--width=8",
                "--calls=1", "--steps_per_call=1", "--matmul_size=128")
  assert [row["batch_size"] for row in report["batch"]] == [8, 16]
  assert [row["model"] for row in report["resolution"]] == ["dcgan28"]
  for row in report["batch"] + report["resolution"]:
    assert row["ms_per_step"] > 0 and row["step_gflop"] > 0
    assert 0 < row["fraction_of_matmul_peak"]
  # Twice the batch, twice the arithmetic (the same network), but for the
  # batch-independent part (the optimizer's and EMA's per-parameter updates:
  # 2 f(8) - f(16) = 0.0015 GFLOP as XLA counts them) and the printed rounding
  # to 0.01 GFLOP (0.005 on one, 0.01 on twice the other): 0.0165 < 0.02. Not
  # scaling with the batch is off by the whole step (0.06 here).
  assert report["batch"][1]["step_gflop"] == pytest.approx(
      2 * report["batch"][0]["step_gflop"], abs=0.02)
  single, rows = report["sweep"]["single_run"], report["sweep"]["vectorised"]
  assert [row["members"] for row in rows] == [2] and single["member_steps_per_s"] > 0
  for row in rows:
    # scaling.py divides the two printed rates and rounds to 0.01.
    assert row["speedup_over_one_after_another"] == pytest.approx(
        row["member_steps_per_s"] / single["member_steps_per_s"], abs=0.005)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="PyTorch is a benchmark-only extra: pip install -e '.[bench]'")
def test_pytorch_sngan_has_the_parameters_of_jaxgans():
  """The reference times the same network: G and D parameter counts of
  benchmarks/pytorch_sngan.py equal those of configs/sngan.py's ResNet."""
  import jax
  import jax.numpy as jnp

  from jaxgan import models

  from configs import sngan
  sys.path.insert(0, str(REPO / "benchmarks"))
  import pytorch_sngan
  config = sngan.get_config("cifar10")
  g, d = models.create(config.model)
  count = lambda v: sum(x.size for x in jax.tree.leaves(v["params"]))
  g_vars = jax.eval_shape(lambda: g.init(jax.random.PRNGKey(0), jnp.zeros((2, 128)),
                                         train=False))
  d_vars = jax.eval_shape(lambda: d.init(jax.random.PRNGKey(0), jnp.zeros((2, 32, 32, 3)),
                                         train=False))
  ref = pytorch_sngan.Trainer()
  torch_count = lambda m: sum(p.numel() for p in m.parameters())
  assert (count(g_vars), count(d_vars)) == (torch_count(ref.g), torch_count(ref.d))
  import torch
  d_loss, g_loss = ref.step(torch.rand(config.train.n_critic, 4, 3, 32, 32) * 2 - 1)
  assert np.isfinite(d_loss) and np.isfinite(g_loss)
