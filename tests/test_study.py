"""The large-scale study (configs/study.py, scripts/study.py): the search
space as Lucic et al.'s code draws it, every loss's config, and one tiny
study cell from search to restarts."""

import argparse
import gzip
import importlib.util
import math
import struct
import sys

import numpy as np
import pytest

from conftest import REPO

sys.path.insert(0, str(REPO))
from jaxgan import sweep  # noqa: E402
from jaxgan.cli import train as cli_train  # noqa: E402
from jaxgan.train import validation  # noqa: E402

from configs import study  # noqa: E402


def _script():
  spec = importlib.util.spec_from_file_location("study_script", REPO / "scripts" / "study.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_every_loss_config_is_valid_on_both_datasets():
  for name, loss in study.LOSSES.items():
    for dataset in ("mnist", "fashion_mnist"):
      config = study.get_config(f"{name},{dataset}")
      validation.check_config(config)
      assert config.loss.name == loss.loss and config.model.name == "infogan"
      assert (config.train.batch_size, config.model.latent_dim) == (64, 64)
      assert config.data.path.endswith(dataset)
  assert study.get_config("wgan,mnist").optimizer.d.clip == 0.01
  assert study.get_config("dragan").loss.dragan_weight == 10.0
  with pytest.raises(ValueError, match="Unknown study loss 'began'.*valid: minimax"):
    study.get_config("began,mnist")


def test_search_draws_the_wide_space():
  """2,000 draws: every value in its range, G and D share lr and beta1, and
  the distributions are the paper's (uniform beta1, log-uniform lr and clip,
  n_critic uniform on 1..5, BatchNorm half the time): each mean within 5
  standard errors, each n_critic count within 5 binomial standard errors."""
  n = 2000
  settings = study.search("wgan", n, seed=3)
  b1 = np.array([s["optimizer.g.b1"] for s in settings])
  log_lr = np.log10([s["optimizer.g.learning_rate"] for s in settings])
  log_clip = np.log10([s["optimizer.d.clip"] for s in settings])
  n_critic = np.array([s["train.n_critic"] for s in settings])
  assert all(s["optimizer.g.b1"] == s["optimizer.d.b1"] and s["optimizer.g.learning_rate"]
             == s["optimizer.d.learning_rate"] for s in settings)
  # 3 significant digits move a value by at most 5e-3 relative (2.2e-3 in log10).
  assert b1.min() >= 0 and b1.max() <= 1
  assert log_lr.min() >= -5 - 2.2e-3 and log_lr.max() <= -2 + 2.2e-3
  assert log_clip.min() >= -3 - 2.2e-3 and log_clip.max() <= 2.2e-3
  for values, mean, width in ((b1, 0.5, 1.0), (log_lr, -3.5, 3.0), (log_clip, -1.5, 3.0)):
    assert abs(values.mean() - mean) < 5 * width / math.sqrt(12 * n)
  counts = np.bincount(n_critic, minlength=6)
  assert counts[0] == 0 and counts.sum() == n
  assert np.all(np.abs(counts[1:] - n / 5) < 5 * math.sqrt(n * 0.2 * 0.8))
  batch = sum(s["model.d_norm"] == "batch" for s in settings)
  assert abs(batch - n / 2) < 5 * math.sqrt(n / 4)


def test_search_is_reproducible_and_loss_specific():
  assert study.search("wgan_gp", 5) == study.search("wgan_gp", 8)[:5]
  assert study.search("wgan_gp", 5, seed=1) != study.search("wgan_gp", 5)
  keys = {name: set(study.search(name, 1)[0]) for name in study.LOSSES}
  shared = {"optimizer.g.b1", "optimizer.d.b1", "optimizer.g.learning_rate",
            "optimizer.d.learning_rate", "train.n_critic", "model.d_norm"}
  assert keys["non_saturating"] == keys["hinge"] == shared
  assert keys["wgan"] == shared | {"optimizer.d.clip"}
  assert keys["wgan_gp"] == shared | {"loss.gp_weight"}
  assert keys["dragan"] == shared | {"loss.dragan_weight"}
  lambdas = np.log10([s["loss.gp_weight"] for s in study.search("wgan_gp", 200)])
  assert lambdas.min() >= -1 - 2.2e-3 and lambdas.max() <= 2 + 2.2e-3


def test_grouped_search_shares_only_the_program_changing_values():
  """Groups of 4 share n_critic, D's norm and clip (one vectorised program
  each), keep the independent search's other values, and draw the shared
  ones from the same distributions (1,000 groups: counts within 5 binomial
  standard errors of uniform)."""
  plain = study.search("wgan", 4000)
  grouped = study.search("wgan", 4000, group_size=4)
  program = ("train.n_critic", "model.d_norm", "optimizer.d.clip")
  for a, b in zip(plain, grouped, strict=True):
    assert {k: v for k, v in a.items() if k not in program} == {
        k: v for k, v in b.items() if k not in program}
  groups = [grouped[i:i + 4] for i in range(0, 4000, 4)]
  assert all(len({tuple(s[k] for k in program) for s in g}) == 1 for g in groups)
  assert all(len({s["optimizer.g.learning_rate"] for s in g}) > 1 for g in groups[:50])
  counts = np.bincount([g[0]["train.n_critic"] for g in groups], minlength=6)[1:]
  assert np.all(np.abs(counts - 200) < 5 * math.sqrt(1000 * 0.2 * 0.8))
  configs = sweep.member_configs(study.get_config("wgan"), grouped[:12])[2]
  assert [len(m) for _, m in sweep.plan(configs)] == [4, 4, 4]
  with pytest.raises(ValueError, match="group_size must be >= 1"):
    study.search("wgan", 4, group_size=0)


def test_get_sweep_through_the_command_line_takes_the_config_argument():
  """`--config=configs/study.py:wgan,mnist --sweep=config`: the paper's 100
  settings of that loss, trained as one program per (n_critic, D norm, clip)."""
  spec = cli_train._sweep_spec("config", str(REPO / "configs" / "study.py") + ":wgan,mnist")
  assert len(spec) == 100 and all("optimizer.d.clip" in s for s in spec)
  spec = cli_train._sweep_spec("config", str(REPO / "configs" / "study.py") + ":wgan_gp")
  configs = sweep.member_configs(study.get_config("wgan_gp"), spec)[2]
  programs = sweep.plan(configs)
  assert sum(len(m) for _, m in programs) == 100
  combos = {(c.train.n_critic, c.model.d_norm) for c in configs}
  assert len(programs) == len(combos) and all(m == "vectorised" for m, _ in programs)


def test_table_reports_failed_settings_and_the_best_over_seeds():
  script = _script()
  member = lambda fid, **o: {"overrides": {"optimizer.g.learning_rate": 1e-4,
                                           "optimizer.d.learning_rate": 1e-4,
                                           "train.n_critic": 2, **o}, "fid": fid}
  cell = {"loss": "wgan", "dataset": "mnist", "steps": 10, "settings": 3,
          "search": {"wall_s": 10.0, "members": [member(30.0), member(float("nan")),
                                                 member(20.0, **{"optimizer.d.clip": 0.5})]},
          "restarts": {"wall_s": 5.0, "members": [{"fid": 24.0}, {"fid": 22.0}]}}
  assert script.best(cell["search"]["members"])["fid"] == 20.0
  assert script.best_setting_fids(cell) == [20.0, 24.0, 22.0]
  row = script.table([cell]).splitlines()[2]
  assert ("| 3 (1) | 25.0 | 20.0 | learning_rate 0.0001, n_critic 2, clip 0.5 | 22.0 ± 2.0 | "
          "3 | 15 s | 6.7 ± 0.4 |") in row
  assert script.best([member(float("nan"))]) is None


def _write_idx(path, name, array):
  header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
      f">{array.ndim}I", *array.shape)
  with gzip.open(path / name, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


def test_a_study_cell_searches_then_restarts_its_best(tmp_path, monkeypatch):
  """Two hinge settings of narrow networks for 2 steps on 256 random
  images: every setting scored, the best re-run with seeds 1 and 2 (its
  overrides, other seeds), the JSON, table and plot written."""
  rng = np.random.default_rng(0)
  data = tmp_path / "data"
  data.mkdir()
  _write_idx(data, "train-images-idx3-ubyte.gz", rng.integers(0, 256, (256, 28, 28)))
  _write_idx(data, "train-labels-idx1-ubyte.gz", np.arange(256) % 10)
  get_config = study.get_config

  def tiny(arg):
    config = get_config(arg)
    config.model.update(g_width=4, d_width=4)
    config.data.path = str(data)
    return config

  script = _script()
  monkeypatch.setattr(script.study, "get_config", tiny)
  # One group of 2 (one program) and 2 restarts: the restarts reuse the
  # search's compiled program (same members per device, only values differ).
  args = argparse.Namespace(settings=2, num_steps=2, search_seed=0, group_size=2,
                            restart_seeds="1,2",
                            eval_samples=64, workdir=str(tmp_path / "runs"))
  cell = script.run_cell("hinge", "mnist", args)
  fids = [m["fid"] for m in cell["search"]["members"]]
  assert len(fids) == 2 and all(np.isfinite(fids)) and len(set(fids)) == 2
  assert cell["search"]["programs"] == [["vectorised", 2]]
  top = script.best(cell["search"]["members"])
  restarts = cell["restarts"]["members"]
  assert [r["overrides"] for r in restarts] == [{**top["overrides"], "seed": s}
                                                for s in (1, 2)]
  assert all(np.isfinite(r["fid"]) and r["fid"] != top["fid"] for r in restarts)
  # Run again: nothing left to train, the FIDs re-read, and the wall time
  # is the first run's plus this one's (not replaced by a re-read's seconds).
  again = script.run_cell("hinge", "mnist", args)
  assert [m["fid"] for m in again["search"]["members"]] == fids
  first = cell["restarts"]["wall_s_runs"]
  assert len(first) == 1 and again["restarts"]["wall_s_runs"][0] == first[0]
  assert again["restarts"]["wall_s"] == sum(again["restarts"]["wall_s_runs"]) > first[0]
  cells = script.merge(str(tmp_path / "study.json"), [cell])
  script.plot(cells, str(tmp_path / "fid.png"))
  assert (tmp_path / "fid.png").stat().st_size > 0
