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
    ("model.image_size", 48, r"image sizes \(28, 32, 64, 128\)"),
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


def test_grid_max_pool_takes_the_maximum_of_each_adaptive_cell():
  from jaxgan import evaluate
  x = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (2, 7, 7, 3)))
  cells = [(0, 2), (1, 4), (3, 6), (5, 7)]  # 7 px into 4 cells, as adaptive pooling
  want = np.stack([x[:, a:b, c:d].max((1, 2)) for a, b in cells for c, d in cells], 1)
  np.testing.assert_array_equal(evaluate._grid_max_pool(x), want.reshape(2, -1))


def test_linear_probe_reads_every_discriminator_layer(trained, tmp_path):
  """DCGAN's representation-learning evaluation on the tiny run: every D layer
  max-pooled to 4x4 (28 px: 14x14x8 and 7x7x16 -> 16 x 24 features), the
  initial D exactly the one training started from, accuracies of a linear
  classifier on the digits far above chance (10 %)."""
  from jaxgan import evaluate
  from jaxgan.train import setup
  config, workdir, _ = trained
  trained_probe = evaluate.discriminator_linear_probe(workdir, num_train=1000,
                                                      iterations=100)
  initial_probe = evaluate.discriminator_linear_probe(workdir, initial=True,
                                                      num_train=1000, iterations=100)
  assert trained_probe["num_features"] == 16 * (8 + 16)
  assert (trained_probe["step"], initial_probe["step"]) == (4, 0)
  assert trained_probe["num_train"] == 1000 and trained_probe["num_test"] == 1797
  assert min(trained_probe["accuracy"], initial_probe["accuracy"]) > 0.5
  shape = (28, 28, 1)
  start = setup.build(config, shape)[0]
  for a, b in zip(jax.tree.leaves(evaluate.initial_state(config, shape).discriminator),
                  jax.tree.leaves(start.discriminator), strict=True):
    np.testing.assert_array_equal(a, b)
  other = tiny_config()
  other.model.name = "mlp"
  (tmp_path / "config.json").write_text(other.to_json())
  with pytest.raises(ValueError, match="linear probe reads the layers of a DCGAN"):
    evaluate.discriminator_linear_probe(str(tmp_path))
