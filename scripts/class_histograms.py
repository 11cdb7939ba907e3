r"""Which classes a run's generator draws, checkpoint by checkpoint, with its
EMA parameters and with the trained (raw) ones: the evidence for or against
mode dropping over training.

  python scripts/class_histograms.py --workdir=runs/sngan_fashion [--steps=1000,5000]

For every checkpoint kept in WORKDIR/checkpoints (or those of --steps) and
each set of generator weights (the EMA when the run keeps one, and the raw),
draws `--num_samples` samples as `jaxgan evaluate` draws them (the run's
evals seed and batch size, BatchNorm with each batch's statistics), scores
their FID and classifies them with the run's feature network (one of
jaxgan's classifiers, config.evals.feature_net). The real training images,
classified by the same network, give the reference row. With the raw
weights it also records the checkpoint's discriminator (eval mode): its mean
logit on the real images of each class (their dataset labels) and on the
samples, i.e. which classes D rates as real against what G draws. Writes, in
WORKDIR/class_histograms/ (or --out): histograms.json (per step and weights:
FID, the fraction of samples in each class, KL of the histogram to
uniform; D's logits), histograms.md (the tables) and histograms.png
(fractions over steps, one panel per set of weights).
"""

import json
import os
import sys

import jax
import ml_collections
import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from jaxgan import checkpoint as checkpoint_lib  # noqa: E402
from jaxgan import data as data_lib  # noqa: E402
from jaxgan import evaluate, evaluation, models  # noqa: E402

# Class names of the datasets jaxgan ships classifiers for (the datasets' own orders).
CLASS_NAMES = {
    "classifier_mnist": [str(k) for k in range(10)],
    "classifier_fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
}


def _fractions(logits: np.ndarray) -> dict:
  """Each class's fraction of the argmax labels and the histogram's KL to uniform."""
  dist = evaluation.class_distribution(logits.argmax(-1), logits.shape[-1])
  return {"fractions": [dist[f"class_{k}"] for k in range(logits.shape[-1])],
          "class_kl": dist["class_kl"]}


def _reference(config, evals, workdir) -> tuple[evaluation.Evaluator, dict, tuple]:
  """(an Evaluator of FID and class histograms against the run's training
  data, the training images' own histogram, (those images, their labels))."""
  data_config = ml_collections.ConfigDict(config.data.to_dict())
  data_config.split = data_config.get("split", None) or "train"
  dataset = data_lib.load(data_config, image_size=config.model.image_size,
                          channels=config.model.channels)
  evaluator = evaluation.Evaluator(evals, dataset, workdir, reference_name=dataset.name,
                                   num_classes=config.model.get("num_classes", 0))
  if not evaluator.net.name.startswith("classifier_"):
    raise ValueError(f"Class histograms need one of jaxgan's classifiers as the feature "
                     f"net, got {evaluator.net.name!r}: pass --feature_net="
                     f"classifier_mnist or classifier_fashion_mnist.")
  images = dataset.images[:evals.num_samples]
  real = evaluator.net.extract(images)["logits"]
  return evaluator, {"split": data_config.split, "num_images": len(real),
                     **_fractions(real)}, (images, dataset.labels[:len(images)])


def _critic_fn(config, image_shape: tuple, batch_size: int = 500):
  """`critic(state, real, fakes, fake_labels)`: the checkpoint's D (eval
  mode), its mean logit on the real images of each class and on the samples:
  which classes D rates as real, against what G draws. D is built and
  compiled once for every checkpoint."""
  discriminator = models.create(config.model, image_shape)[1]
  conditional = config.model.get("num_classes", 0) > 0

  @jax.jit
  def apply(variables, images, labels):
    out = discriminator.apply(variables, data_lib.to_float(images),
                              *((labels,) if conditional else ()), train=False)
    return out["logits"] if isinstance(out, dict) else out

  def critic(state, real: tuple, fakes: np.ndarray, fake_labels) -> dict:
    variables = {"params": state.discriminator.params,
                 "batch_stats": state.discriminator.batch_stats}

    def logits(images, labels):
      labels = np.zeros(len(images), np.int32) if labels is None else labels
      return np.concatenate([np.asarray(apply(variables, images[i:i + batch_size],
                                              labels[i:i + batch_size]))
                             for i in range(0, len(images), batch_size)])

    images, labels = real
    real_logits = logits(images, labels)
    return {"d_real_by_class": [float(real_logits[labels == k].mean())
                                if (labels == k).any() else float("nan")
                                for k in range(int(labels.max()) + 1)],
            "d_fake": float(logits(fakes, fake_labels).mean())}

  return critic


def histograms(workdir: str, steps: list[int] | None = None,
               num_samples: int = 10000, feature_net: str | None = None) -> dict:
  """{'classes', 'reference' (the training images' histogram), 'steps':
  [{'step', 'weights' ('ema' or 'raw'), 'fid', 'fractions', 'class_kl'}]};
  `feature_net`: the classifier (default: the run's config.evals.feature_net)."""
  config = evaluate.read_config(workdir)
  evals = evaluate.evals_config(config, {"metrics": "fid", "num_samples": num_samples,
                                         "feature_net": feature_net})
  if steps is None:
    checkpointer = checkpoint_lib.Checkpointer(os.path.join(workdir, "checkpoints"))
    steps = checkpointer.all_steps()
    checkpointer.close()
  if not steps:
    raise FileNotFoundError(f"No checkpoints in {workdir}/checkpoints.")
  if models.kind(config.model) == "paired":
    raise ValueError(f"The run in {workdir} is image-to-image (model "
                     f"{config.model.name!r}): its samples have no class to count.")
  evaluator, reference, real = _reference(config, evals, workdir)
  critic = _critic_fn(config, real[0].shape[1:])
  rows = []
  for step in steps:
    restored, state = evaluate.restore_state(config, workdir, step)
    for weights in ("ema", "raw") if state.ema_params is not None else ("raw",):
      sample_fn = evaluate.make_sample_fn(config, state, ema=weights == "ema")
      samples = evaluator.generate(sample_fn)
      # One pass of the classifier gives both the FID features and the classes.
      out = evaluator.net.extract(samples, batch_size=evals.batch_size)
      ref = evaluator.reference()
      fid = evaluation.frechet_distance(*evaluation.gaussian_stats(out["features"]),
                                        ref["mu"], ref["sigma"])
      rows.append({"step": int(restored), "weights": weights, "fid": fid,
                   **_fractions(out["logits"])})
      if weights == "raw":  # D against the generator it was trained with
        rows[-1].update(critic(state, real, samples, evaluator.sample_labels()))
      print(json.dumps({k: rows[-1][k] for k in ("step", "weights", "fid", "class_kl")}),
            flush=True)
  classes = CLASS_NAMES.get(evaluator.net.name, [str(k) for k in range(10)])
  return {"workdir": os.path.abspath(workdir), "feature_net": evaluator.net.name,
          "num_samples": num_samples, "classes": classes, "reference": reference,
          "steps": rows}


def table(result: dict) -> str:
  """A markdown table: one row per step and weights, a column per class (%)."""
  head = ["step", "weights", "FID", "KL"] + result["classes"]
  lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
  ref = result["reference"]
  rows = [("real", ref["split"], None, ref)] + [
      (r["step"], r["weights"], r["fid"], r) for r in result["steps"]]
  for step, weights, fid, r in rows:
    cells = [str(step), weights, "" if fid is None else f"{fid:.1f}", f"{r['class_kl']:.2f}"]
    lines.append("| " + " | ".join(cells + [f"{100 * f:.1f}" for f in r["fractions"]])
                 + " |")
  critic = [r for r in result["steps"] if "d_real_by_class" in r]
  if critic:
    head = ["step", "D on samples"] + result["classes"]
    lines += ["", "D's mean logit (eval mode) on the raw samples and on the real images "
              "of each class:", "", "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join([str(r["step"]), f"{r['d_fake']:+.2f}"]
                                + [f"{v:+.2f}" for v in r["d_real_by_class"]]) + " |"
              for r in critic]
  return "\n".join(lines) + "\n"


def plot(result: dict, path: str) -> None:
  """Stacked class fractions over steps, one panel per set of weights."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  panels = sorted({r["weights"] for r in result["steps"]})
  fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.6),
                           squeeze=False, sharey=True)
  colors = plt.get_cmap("tab10").colors
  for ax, weights in zip(axes[0], panels):
    rows = [r for r in result["steps"] if r["weights"] == weights]
    steps = [r["step"] for r in rows]
    fractions = np.array([r["fractions"] for r in rows]).T
    ax.stackplot(steps, fractions, labels=result["classes"], colors=colors)
    ax.set(title=f"{weights} generator", xlabel="step", ylim=(0, 1))
    if len(steps) > 1:
      ax.set_xlim(steps[0], steps[-1])
  axes[0][0].set_ylabel("fraction of samples")
  axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  FLAGS = flags.FLAGS
  steps = [int(s) for s in FLAGS.steps] or None
  result = histograms(FLAGS.workdir, steps, FLAGS.num_samples, FLAGS.feature_net)
  out = FLAGS.out or os.path.join(FLAGS.workdir, "class_histograms")
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, "histograms.json"), "w") as f:
    json.dump(result, f, indent=2)
  with open(os.path.join(out, "histograms.md"), "w") as f:
    f.write(table(result))
  plot(result, os.path.join(out, "histograms.png"))
  print(table(result))


def _define_flags() -> None:
  """Defined only when run as a program: tests import this module."""
  flags.DEFINE_string("workdir", None, "The run directory (holds config.json).")
  flags.DEFINE_list("steps", [], "Checkpoint steps (default: every one kept).")
  flags.DEFINE_integer("num_samples", 10000, "Samples per step and set of weights.")
  flags.DEFINE_string("feature_net", None, "A jaxgan classifier (default: the run's "
                      "config.evals.feature_net), e.g. classifier_fashion_mnist.")
  flags.DEFINE_string("out", None, "Output directory (default WORKDIR/class_histograms).")
  flags.mark_flag_as_required("workdir")


if __name__ == "__main__":
  _define_flags()
  app.run(main)
