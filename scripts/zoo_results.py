r"""Trains configs for a fixed budget and tabulates what they reach.

  pip install -e '.[plots]'
  python scripts/zoo_results.py --out=runs/zoo --num_steps=5000 \
      --runs=dcgan_mnist,dcgan_mnist:fashion_mnist,wgan_gp:mnist,lsgan,sngan:mnist

Each run is `configs/<file>.py[:<arg>]`, trained with `train_and_evaluate` in
<out>/<run name> (so a rerun resumes, or just re-reads a finished run) with
`--num_steps`, the data directory under `--data_root`, and the config's evals
at the end. Writes <out>/results.json and <out>/results.md (a table of the
final evaluation metrics, steps, wall time and hardware), and per run a loss
curve plot (losses.png) and the last sample grid (samples.png).
"""

import importlib.util
import json
import os
import shutil
import sys
import time

import jax
from absl import app, flags, logging

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from jaxgan.train import trainer  # noqa: E402

flags.DEFINE_string("out", "runs/zoo", "Where the runs and the tables go.")
flags.DEFINE_list("runs", [], "config[:arg] names from configs/, e.g. wgan_gp:mnist.")
flags.DEFINE_integer("num_steps", 0, "Training steps of every run (0: the config's).")
flags.DEFINE_string("data_root", "../shared/data",
                    "Holds mnist/ and fashion_mnist/ (IDX files).")
flags.DEFINE_integer("eval_samples", 10000, "Generated samples per evaluation.")
flags.DEFINE_list("set", [], "Extra overrides for every run: key=value (JSON values).")

_REPO = os.path.join(os.path.dirname(__file__), "..")


def load_config(spec: str):
  """'wgan_gp:mnist' -> configs/wgan_gp.py's get_config('mnist')."""
  name, _, arg = spec.partition(":")
  path = os.path.join(_REPO, "configs", f"{name}.py")
  if not os.path.exists(path):
    valid = sorted(f[:-3] for f in os.listdir(os.path.join(_REPO, "configs"))
                   if f.endswith(".py") and f != "common.py")
    raise ValueError(f"No config {name!r}; valid: {', '.join(valid)}.")
  module_spec = importlib.util.spec_from_file_location(f"configs.{name}", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def _override(config, key: str, value) -> None:
  *parents, leaf = key.split(".")
  node = config
  for p in parents:
    node = node[p]
  node[leaf] = value


def prepare(spec: str, f) -> tuple:
  config = load_config(spec)
  if f.num_steps:
    config.train.num_steps = f.num_steps
    config.train.checkpoint_every = f.num_steps
    config.train.sample_every = f.num_steps
  if config.data.get("source") == "idx" or config.data.get("source") == "stacked_mnist":
    folder = os.path.basename(os.path.normpath(config.data.path)) or "mnist"
    config.data.path = os.path.join(f.data_root, folder)
  if "evals" in config and config.evals.metrics:
    config.evals.every = 0  # once, at the end
    config.evals.num_samples = f.eval_samples
  for item in f.set:
    key, _, value = item.partition("=")
    _override(config, key, json.loads(value))
  return config, spec.replace(":", "_")


def _read_metrics(workdir: str) -> list[dict]:
  with open(os.path.join(workdir, "metrics.jsonl")) as fp:
    return [json.loads(line) for line in fp if line.strip()]


def plot_losses(records: list[dict], path: str, title: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(5, 3), dpi=80)
  for key in ("d_loss", "g_loss"):
    points = [(r["step"], r[key]) for r in records if key in r]
    if points:
      ax.plot(*zip(*points), label=key, linewidth=1)
  ax.set_xlabel("step")
  ax.set_title(title, fontsize=9)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def main(_):
  f = flags.FLAGS
  logging.set_verbosity(logging.WARNING)
  os.makedirs(f.out, exist_ok=True)
  results_path = os.path.join(f.out, "results.json")
  results = {}
  if os.path.exists(results_path):
    with open(results_path) as fp:
      results = json.load(fp)
  device = f"{jax.device_count()} x {jax.devices()[0].device_kind}"
  for spec in f.runs:
    config, name = prepare(spec, f)
    workdir = os.path.join(f.out, name)
    start = time.time()
    trainer.train_and_evaluate(config, workdir)
    seconds = time.time() - start
    records = _read_metrics(workdir)
    final = {k: v for r in records for k, v in r.items() if k.startswith("eval/")}
    last = [r for r in records if "d_loss" in r][-1]
    plot_losses(records, os.path.join(workdir, "losses.png"), name)
    samples = sorted(os.listdir(os.path.join(workdir, "samples")))[-1]
    shutil.copy(os.path.join(workdir, "samples", samples),
                os.path.join(workdir, "samples.png"))
    if name in results and seconds < 0.5 * results[name].get("wall_s", 0):
      seconds = results[name]["wall_s"]  # a finished run, only re-read
    results[name] = {
        "config": spec, "steps": config.train.num_steps,
        "batch_size": config.train.batch_size, "n_critic": config.train.n_critic,
        "device": device, "wall_s": round(seconds, 1),
        "final_d_loss": last["d_loss"], "final_g_loss": last["g_loss"],
        **{k[len("eval/"):]: v for k, v in final.items()}}
    with open(results_path, "w") as fp:
      json.dump(results, fp, indent=1)
    print(json.dumps(results[name]), flush=True)
  keys = sorted({k for r in results.values() for k in r} - {
      "config", "device", "final_d_loss", "final_g_loss"})
  lines = ["| run | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
  for name, r in results.items():
    lines.append(f"| {name} | " + " | ".join(
        f"{r[k]:.4g}" if isinstance(r.get(k), float) else str(r.get(k, ""))
        for k in keys) + " |")
  table = "\n".join(lines) + f"\n\nDevice: {device}.\n"
  with open(os.path.join(f.out, "results.md"), "w") as fp:
    fp.write(table)
  print(table)


if __name__ == "__main__":
  app.run(main)
