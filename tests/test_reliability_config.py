"""Configs that cannot work fail before anything is compiled or written, with a
message that says what to change (issue 9). Unknown names, unsupported image
sizes, indivisible batches and non-positive rates and steps are in
tests/test_train.py; a workdir holding another config is in test_reliability.py.
"""

import json
import logging

import pytest

from jaxgan.train import trainer

from conftest import tiny_config


def test_gradient_penalty_with_a_batchnorm_critic_warns(caplog):
  config = tiny_config()
  config.loss.name, config.loss.gp_weight = "wasserstein", 10.0
  with caplog.at_level(logging.WARNING):
    trainer.check_config(config)
  assert "set config.model.d_norm='none'" in caplog.text
  caplog.clear()
  config.model.d_norm = "none"
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


def test_a_run_saved_before_an_option_existed_resumes_while_it_is_at_its_default(tmp_path):
  """config.json written before model.g_norm existed: the option at its
  default is no change; set to anything else it is, and is refused."""
  from jaxgan.train import workdir as workdir_lib
  config = tiny_config()
  saved = json.loads(config.to_json_best_effort())
  del saved["model"]["g_norm"]
  (tmp_path / "config.json").write_text(json.dumps(saved))
  assert workdir_lib.check_config_file(config, str(tmp_path)) == []
  config.model.g_norm = "virtual_batch"
  with pytest.raises(ValueError, match=r"model\.g_norm: None -> 'virtual_batch'"):
    workdir_lib.check_config_file(config, str(tmp_path))


@pytest.mark.parametrize("d_batch_norm, d_norm", [(True, "batch"), (False, "none")])
def test_a_run_saved_with_the_retired_d_batch_norm_reads_it_as_d_norm(
    tmp_path, d_batch_norm, d_norm):
  """config.json written while `model.d_batch_norm` existed (False turned
  d_norm 'batch' off): the run resumes with the d_norm it meant, refuses
  another, and `jaxgan generate`/`evaluate` read it so."""
  from jaxgan import evaluate
  from jaxgan.train import workdir as workdir_lib
  config = tiny_config()
  saved = json.loads(config.to_json_best_effort())
  saved["model"].update(d_batch_norm=d_batch_norm, d_norm="batch")
  (tmp_path / "config.json").write_text(json.dumps(saved))
  config.model.d_norm = d_norm
  assert workdir_lib.check_config_file(config, str(tmp_path)) == []
  read = evaluate.read_config(str(tmp_path))
  assert read.model.d_norm == d_norm and "d_batch_norm" not in read.model
  config.model.d_norm = "layer"
  with pytest.raises(ValueError, match=rf"model\.d_norm: '{d_norm}' -> 'layer'"):
    workdir_lib.check_config_file(config, str(tmp_path))
