"""Toy 2-D data with MLP players; mixed precision still trains."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan.models import mlp
from jaxgan.train import trainer

from configs import toy_collapse, toy_grid, toy_ring
from conftest import REPO

CONFIGS = {"toy_ring": toy_ring, "toy_grid": toy_grid, "toy_collapse": toy_collapse}


@pytest.mark.parametrize("name", CONFIGS)
def test_toy_config_trains_a_few_steps(tmp_path, name):
  config = CONFIGS[name].get_config()
  config.model.update(g_width=8, d_width=8)
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
  num_modes = {"ring": 8, "grid": 25}[config.data.name]
  assert scores["step"] == 2 and 0 <= scores["eval/toy_modes"] <= num_modes
  assert (tmp_path / "samples" / "step_0000002.png").exists()  # a scatter plot
  assert all(x.dtype == np.float32 for x in jax.tree.leaves(state.generator.params))


def test_packing_discriminator_gives_one_logit_per_pack():
  """PacGAN: m consecutive samples make one input of m * 2 numbers, and each
  logit depends on its own pack only."""
  x = jax.random.normal(jax.random.PRNGKey(0), (12, 2))
  for pack in (1, 2, 3):
    d = mlp.Discriminator(width=8, depth=2, pack=pack)
    variables = d.init(jax.random.PRNGKey(1), x)
    assert variables["params"]["Dense_0"]["kernel"].shape == (2 * pack, 8)
    logits = d.apply(variables, x)
    assert logits.shape == (12 // pack,)
    # Changing the samples of the last pack changes its logit only.
    changed = d.apply(variables, x.at[-pack:].add(1.0))
    np.testing.assert_array_equal(changed[:-1], logits[:-1])
    assert changed[-1] != logits[-1]
  with pytest.raises(ValueError, match="config.model.pack"):
    mlp.Discriminator(width=8, pack=5).init(jax.random.PRNGKey(1), jnp.zeros((12, 2)))


def test_batch_not_divisible_by_the_pack_is_refused_before_compiling():
  config = toy_ring.get_config()
  config.model.pack = 3
  config.train.batch_size = 64  # 8 per device on the 8 test devices: not 3k
  with pytest.raises(ValueError, match=r"config.model.pack=3.*divisible by 24"):
    trainer.check_config(config)
  config.train.batch_size = 48
  trainer.check_config(config)  # 6 per device: two packs of 3


def test_bfloat16_training_still_converges_on_the_ring(tmp_path):
  """bfloat16 compute, float32 parameters and optimizer state: after 3000
  steps the generator covers most of the 8 modes with mostly high-quality
  samples (a broken mixed-precision path leaves it at 1-2 modes, ~0%)."""
  # One device, and LLVM's optimisations on (no XLA_FLAGS, unlike
  # conftest.one_device_env): 3,000 steps run faster compiled with them (23 s
  # against 34 s).
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  result = subprocess.run(
      [sys.executable, str(REPO / "tests/scripts/train_toy.py"), str(tmp_path),
       "bfloat16", "3000", "0"], capture_output=True, text=True, env=env, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  scores = json.loads(result.stdout.strip().splitlines()[-1])
  assert scores["modes"] >= 6, scores
  assert scores["high_quality"] >= 30, scores
  with open(tmp_path / "config.json") as f:
    assert json.load(f)["model"]["dtype"] == "bfloat16"
