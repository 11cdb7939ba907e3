"""Configs that cannot work fail before anything is compiled or written, with a
message that says what to change (issue 9). Unknown names, unsupported image
sizes, indivisible batches and non-positive rates and steps are in
tests/test_train.py; a workdir holding another config is in test_reliability.py.
"""

import logging

import pytest

from jaxgan.train import trainer

from conftest import tiny_config


def test_gradient_penalty_with_a_batchnorm_critic_warns(caplog):
  config = tiny_config()
  config.loss.name, config.loss.gp_weight = "wasserstein", 10.0
  with caplog.at_level(logging.WARNING):
    trainer.check_config(config)
  assert "set config.model.d_batch_norm=False" in caplog.text
  caplog.clear()
  config.model.d_batch_norm = False
  with caplog.at_level(logging.WARNING):
    trainer.check_config(config)
  assert "BatchNorm" not in caplog.text


@pytest.mark.parametrize("section, key, value, message", [
    ("train", "max_checkpoints", 0, "max_checkpoints must be positive"),
    ("train", "num_samples", 0, "num_samples must be positive"),
    ("train", "steps_per_call", 0, "steps_per_call must be positive"),
    (None, "seed", -1, "seed must be >= 0"),
])
def test_bad_config_fails_before_anything_is_written(tmp_path, section, key, value,
                                                     message):
  config = tiny_config()
  (config[section] if section else config)[key] = value
  with pytest.raises(ValueError, match=message):
    trainer.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def test_unreadable_config_json_is_refused_and_left_alone(tmp_path):
  (tmp_path / "config.json").write_text('{"seed": 0, "model": {')  # cut short
  with pytest.raises(ValueError, match=r"Cannot read .*config\.json.*--override_config"):
    trainer.train_and_evaluate(tiny_config(), str(tmp_path))
  assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]
  assert (tmp_path / "config.json").read_text() == '{"seed": 0, "model": {'
