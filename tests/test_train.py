"""train_and_evaluate end to end on tiny models: outputs, resume, config checks."""

import json
import os

import jax
import numpy as np
import pytest
from PIL import Image

from jaxgan.train import trainer

from conftest import tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A 4-step run of the tiny config (checkpoints at 2 and 4) and its final state."""
  workdir = str(tmp_path_factory.mktemp("run"))
  config = tiny_config()
  return config, workdir, trainer.train_and_evaluate(config, workdir)


def _assert_states_equal(a, b):
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b)
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(x, y)


def test_writes_samples_metrics_config_and_checkpoints(trained):
  config, workdir, state = trained
  assert int(state.step) == 4
  for step in (2, 4):
    grid = Image.open(os.path.join(workdir, "samples", f"step_{step:07d}.png"))
    # 16 samples of 28x28 in a 4x4 grid with 2-pixel gaps.
    assert grid.size == (4 * 30 + 2, 4 * 30 + 2)
    assert np.asarray(grid).std() > 0
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2", "4"]
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  assert [r["step"] for r in records] == [2, 4]
  for r in records:
    for key in ("d_loss", "g_loss", "d_real_prob", "d_fake_prob", "d_grad_norm",
                "g_grad_norm", "steps_per_sec"):
      assert np.isfinite(r[key]), (key, r)
  assert any(f.startswith("events.out.tfevents")
             for f in os.listdir(os.path.join(workdir, "tensorboard")))
  with open(os.path.join(workdir, "config.json")) as f:
    assert json.load(f) == json.loads(config.to_json_best_effort())


def test_resumed_run_ends_with_the_parameters_of_an_uninterrupted_one(trained, tmp_path):
  config, _, uninterrupted = trained
  config.train.num_steps = 2
  trainer.train_and_evaluate(config, str(tmp_path))
  config.train.num_steps = 4  # a longer run may resume a shorter one
  resumed = trainer.train_and_evaluate(config, str(tmp_path))
  _assert_states_equal(resumed, uninterrupted)
  with open(tmp_path / "metrics.jsonl") as f:
    assert [json.loads(line)["step"] for line in f] == [2, 4]


def test_finished_run_is_not_trained_again(trained):
  config, workdir, final = trained
  again = trainer.train_and_evaluate(config, workdir)
  _assert_states_equal(again, final)
  assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["2", "4"]


def test_workdir_holding_another_config_is_refused_and_left_alone(trained):
  config, workdir, _ = trained
  config.loss.name = "hinge"
  before = {f: os.path.getmtime(os.path.join(workdir, f)) for f in os.listdir(workdir)}
  with pytest.raises(ValueError, match=r"loss.name: 'non_saturating' -> 'hinge'"):
    trainer.train_and_evaluate(config, workdir)
  assert before == {f: os.path.getmtime(os.path.join(workdir, f))
                    for f in os.listdir(workdir)}


@pytest.mark.parametrize("key, value, message", [
    ("loss.name", "wasserstien", "valid names: .*wasserstein"),
    ("model.name", "dcgun", "valid names: .*dcgan"),
    ("model.image_size", 48, r"image sizes \(28, 32, 64\)"),
    ("optimizer.d.name", "adan", "valid names: adam, rmsprop, sgd"),
    ("optimizer.g.learning_rate", 0.0, "learning_rate must be positive"),
    ("train.n_critic", 0, "n_critic must be positive"),
    ("train.num_steps", -1, "num_steps must be positive"),
    ("train.batch_size", 12, "not divisible by the 8 devices"),
    ("data.source", "imagenet", "valid: digits, tfds, idx, folder"),
])
def test_bad_config_fails_before_anything_is_written(tmp_path, key, value, message):
  config = tiny_config()
  section, name = key.split(".", 1)
  if "." in name:
    sub, name = name.split(".")
    config[section][sub][name] = value
  else:
    config[section][name] = value
  with pytest.raises(ValueError, match=message):
    trainer.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()
