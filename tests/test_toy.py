"""Toy 2-D data with MLP players; mixed precision still trains."""

import json
import os
import subprocess
import sys

import jax
import numpy as np

from jaxgan.train import trainer

from configs import toy_ring
from conftest import REPO


def test_toy_ring_config_trains_a_few_steps(tmp_path):
  config = toy_ring.get_config()
  config.train.update(num_steps=2, batch_size=64, steps_per_call=1, log_every=1,
                      sample_every=2, checkpoint_every=2, num_samples=100)
  config.data.num_examples = 1000
  state = trainer.train_and_evaluate(config, str(tmp_path))
  assert int(state.step) == 2
  with open(tmp_path / "metrics.jsonl") as f:
    records = [json.loads(line) for line in f]
  train_records = [r for r in records if "d_loss" in r]
  assert [r["step"] for r in train_records] == [1, 2]
  assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in train_records)
  # The toy protocol ran at the end of training and was logged.
  (scores,) = [r for r in records if "eval/toy_modes" in r]
  assert scores["step"] == 2 and 0 <= scores["eval/toy_modes"] <= 8
  assert (tmp_path / "samples" / "step_0000002.png").exists()  # a scatter plot
  assert all(x.dtype == np.float32 for x in jax.tree.leaves(state.generator.params))


def test_bfloat16_training_still_converges_on_the_ring(tmp_path):
  """bfloat16 compute, float32 parameters and optimizer state: after 3000
  steps the generator covers most of the 8 modes with mostly high-quality
  samples (a broken mixed-precision path leaves it at 1-2 modes, ~0%)."""
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one device: faster
  result = subprocess.run(
      [sys.executable, str(REPO / "tests/scripts/train_toy.py"), str(tmp_path),
       "bfloat16", "3000", "0"], capture_output=True, text=True, env=env, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  scores = json.loads(result.stdout.strip().splitlines()[-1])
  assert scores["modes"] >= 6, scores
  assert scores["high_quality"] >= 30, scores
  with open(tmp_path / "config.json") as f:
    assert json.load(f)["model"]["dtype"] == "bfloat16"
