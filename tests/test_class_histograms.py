"""scripts/class_histograms.py: the classes a run's generator draws, per
checkpoint, with its EMA and its raw weights."""

import importlib.util
import json

import numpy as np

from conftest import REPO, checkpoint_without_training, tiny_config


def _script():
  spec = importlib.util.spec_from_file_location(
      "class_histograms", REPO / "scripts" / "class_histograms.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_histograms_per_checkpoint_and_weights_match_jaxgan_evaluate(tmp_path, monkeypatch):
  """Every kept checkpoint gets an EMA and a raw row whose FID is what
  `jaxgan evaluate` reports for the same step and weights (same samples), a
  histogram over the 10 classes, and the real images' row; the table and
  the plot are written."""
  from jaxgan import data, evaluate, models

  monkeypatch.setenv("JAXGAN_CACHE_DIR", str(tmp_path / "cache"))
  config = tiny_config()
  # The run's own feature net is Inception (whose weights are not here): the
  # classifier is passed, as for the runs that scored FID with Inception.
  config.evals.update(feature_net="inception", batch_size=32, num_reference=300)
  workdir = tmp_path / "run"
  checkpoint_without_training(workdir, config, steps=(3, 7))
  script = _script()
  result = script.histograms(str(workdir), num_samples=64, feature_net="classifier_mnist")
  assert [(r["step"], r["weights"]) for r in result["steps"]] == [
      (3, "ema"), (3, "raw"), (7, "ema"), (7, "raw")]
  for row in result["steps"] + [result["reference"]]:
    assert len(row["fractions"]) == 10
    np.testing.assert_allclose(sum(row["fractions"]), 1.0, rtol=1e-12)
  assert result["reference"]["num_images"] == 64
  for row in result["steps"][2:]:
    report = evaluate.evaluate_workdir(
        str(workdir), step=7, ema=row["weights"] == "ema", metrics="fid",
        num_samples=64, feature_net="classifier_mnist",
        output=str(tmp_path / f"{row['weights']}.json"))
    assert report["results"]["fid"] == row["fid"]
  assert len({r["fid"] for r in result["steps"]}) == 4  # four different generators
  # D's logits come with the raw rows: on the real images of class 0 they are
  # what the checkpoint's D gives those images.
  assert ["d_real_by_class" in r for r in result["steps"]] == [False, True, False, True]
  config_run = evaluate.read_config(str(workdir))
  _, state = evaluate.restore_state(config_run, str(workdir), 7)
  dataset = data.load(config_run.data, image_size=28, channels=1)
  zeros = dataset.images[:64][dataset.labels[:64] == 0]
  d = models.create(config_run.model, (28, 28, 1))[1]
  want = d.apply({"params": state.discriminator.params,
                  "batch_stats": state.discriminator.batch_stats},
                 data.to_float(zeros), train=False).mean()
  assert np.isfinite(want) and len(zeros) > 0
  np.testing.assert_allclose(result["steps"][3]["d_real_by_class"][0], want, rtol=1e-5)
  assert np.isfinite(result["steps"][3]["d_real_by_class"]).all()
  assert np.isfinite(result["steps"][3]["d_fake"])

  md = script.table(result)
  lines = md.splitlines()
  assert lines[0].endswith("| 8 | 9 |") and lines[2 + 1 + 4] == ""
  assert lines[-2].startswith("| 3 |") and lines[-1].startswith("| 7 |")
  script.plot(result, str(tmp_path / "h.png"))
  assert (tmp_path / "h.png").stat().st_size > 1000
  json.dumps(result)  # JSON-serialisable as main writes it
