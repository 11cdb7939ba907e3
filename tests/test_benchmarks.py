"""The benchmark scripts run and print what they promise."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

TINY = ["--image_size=28", "--channels=1", "--batch_size=16", "--width=8",
        "--warmup=1", "--steps=2"]


def _run(script, *args):
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one device
  result = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args],
                          capture_output=True, text=True, env=env, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout[result.stdout.index("{"):])


def test_step_throughput_prints_timings_and_flops():
  report = _run("step_throughput.py", *TINY, "--steps_per_call=3")
  assert report["steps_per_call"] == 3
  assert report["median_ms_per_step"] > 0 and report["compile_s"] > 0
  # median_ms_per_step is printed rounded to 0.1 ms and images_per_s to 0.1:
  # the relative error of their ratio is at most 0.05 ms / median plus 0.05 / images_per_s.
  median = report["median_ms_per_step"]
  bound = 0.05 / (median - 0.05) + 0.05 / report["images_per_s"]
  assert report["images_per_s"] == pytest.approx(16 / median * 1e3, rel=bound)
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
