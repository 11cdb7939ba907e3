"""The command line: `python launch.py --config=configs/dcgan.py` and its overrides."""

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import REPO, one_device_env

TINY = ["--config.model.image_size=28", "--config.model.latent_dim=16",
        "--config.model.g_width=8", "--config.model.d_width=8",
        "--config.train.batch_size=16", "--config.train.sample_every=2",
        "--config.train.checkpoint_every=2", "--config.train.log_every=1",
        "--config.train.num_samples=16"]


def _launch(*args, cwd):
  env = one_device_env()  # one device: faster
  return subprocess.run(
      [sys.executable, str(REPO / "launch.py"), f"--config={REPO / 'configs/dcgan.py'}",
       *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def test_cli_trains_resumes_and_writes_to_the_default_workdir(tmp_path):
  result = _launch("--config.train.num_steps=2", *TINY, cwd=tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  workdir = tmp_path / "runs" / "dcgan"  # runs/<config file stem>
  with Image.open(workdir / "samples" / "step_0000002.png") as grid:
    assert grid.size == (122, 122)
  assert os.listdir(workdir / "checkpoints") == ["2"]

  result = _launch("--config.train.num_steps=3", *TINY, cwd=tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Resumed from step 2" in result.stderr
  assert sorted(os.listdir(workdir / "checkpoints")) == ["2", "3"]


def test_misspelled_override_fails_with_the_key_named(tmp_path):
  result = _launch("--config.train.num_stepz=2", cwd=tmp_path)
  assert result.returncode != 0
  assert "unknown key 'num_stepz'. Did you mean \"num_steps\"" in result.stderr
  assert not (tmp_path / "runs").exists()


def test_cli_switches_on_r1_r2_and_dragan(tmp_path):
  result = _launch("--config.train.num_steps=2", *TINY, "--config.model.d_norm=none",
                   "--config.loss.r1_weight=10", "--config.loss.r2_weight=1",
                   "--config.loss.dragan_weight=5", f"--workdir={tmp_path / 'w'}",
                   cwd=tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  records = [json.loads(line) for line in open(tmp_path / "w" / "metrics.jsonl")]
  last = records[-1]
  for metric in ("r1_penalty", "r2_penalty", "dragan_penalty"):
    assert np.isfinite(last[metric]) and last[metric] >= 0, (metric, last)
  config = json.load(open(tmp_path / "w" / "config.json"))
  assert (config["loss"]["r1_weight"], config["loss"]["dragan_weight"]) == (10, 5)
