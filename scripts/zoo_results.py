r"""Trains configs for a fixed budget over seeds and tabulates what they reach.

  pip install -e '.[plots]'
  python scripts/zoo_results.py --out=runs/zoo --num_steps=5000 --seeds=0,1,2 \
      --runs=dcgan_mnist,dcgan_mnist:fashion_mnist,wgan_gp:mnist_dcgan,lsgan,sngan:mnist

Each run is `configs/<file>.py[:<arg>]` with `--num_steps`, the data
directory under `--data_root` and the config's evals at the end, trained for
every seed of `--seeds` as one sweep (`jaxgan.sweep.train_sweep`: the seeds
of an unconditional model in one vectorised program, others one after
another) in <out>/<run name>/seed=<s>, so a rerun resumes, or just re-reads
finished runs. Writes <out>/results.json (every seed's results) and
<out>/results.md (each final evaluation metric as mean ± std (ddof 1) over
the seeds, steps, wall time and hardware), and per run seed 0's loss curve
plot (losses.png) and last sample grid (samples.png). `wall_s` is this
command's time; `loop_s` the training loop's over every run of the command
that the metrics keep (see `loop_seconds`): the budget of a run that was
stopped and resumed, e.g. across sessions with `--set
train.checkpoint_every=500`. On a CPU, the forced host devices
(`XLA_FLAGS=--xla_force_host_platform_device_count=N`) share the cores: pick
an N that spreads the seeds evenly (3 seeds: 1, 3 or 4; on 2, a spare slot
computes a copy of a seed, and the sweep warns).
"""

import importlib.util
import json
import os
import shutil
import sys
import time

import jax
import numpy as np
from absl import app, flags, logging

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from jaxgan import sweep  # noqa: E402

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
  """config.<key> = value for a key the config has (a typo raises KeyError)."""
  *parents, leaf = key.split(".")
  node = config
  for p in parents:
    node = node[p]
  if leaf not in node:
    raise KeyError(f"the config has no {key!r}")
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
    try:
      _override(config, key, json.loads(value))
    except (json.JSONDecodeError, KeyError) as e:
      raise ValueError(f"Bad --set {item!r}: it takes key=value with a dotted config key "
                       f"and a JSON value (strings quoted: evals.metrics='\"fid,kid\"'); "
                       f"{type(e).__name__}: {e}") from None
  return config, spec.replace(":", "_")


def _read_metrics(workdir: str) -> list[dict]:
  with open(os.path.join(workdir, "metrics.jsonl")) as fp:
    return [json.loads(line) for line in fp if line.strip()]


def loop_seconds(records: list[dict]) -> float:
  """Seconds the training loop ran for the steps in a member's metrics: each
  log's steps since the previous log over its steps_per_sec, summed. A
  resumed run's records continue the ones kept from before (the trainer
  moves those past the restored step to metrics.dropped.jsonl), so this
  adds up every piece of an interrupted run, each with its compile and its
  checkpoints and samples, but neither the steps redone nor the final
  evaluation."""
  seconds, last = 0.0, 0
  for r in records:
    if "steps_per_sec" in r:
      seconds += (r["step"] - last) / r["steps_per_sec"]
      last = r["step"]
  return seconds


def sweep_loop_seconds(config, seeds: list[int], records: list[list[dict]]) -> float:
  """The training loop's seconds for all the seeds (`records`: each seed's
  metrics): a vectorised program's once (its members log the same
  intervals), process-mode members' summed."""
  _, _, configs = sweep.member_configs(config, {"seed": seeds})
  total = 0.0
  for mode, members in sweep.plan(configs):
    times = [loop_seconds(records[i]) for i in members]
    total += max(times) if mode == "vectorised" else sum(times)
  return total


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


def summarize_seeds(per_seed: list[dict]) -> dict:
  """Each metric's seed values, mean and std (ddof 1; 0 for one seed)."""
  out = {}
  for key in per_seed[0]:
    values = [r[key] for r in per_seed]
    if all(isinstance(v, (int, float)) for v in values):
      std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
      out[key] = {"mean": float(np.mean(values)), "std": std, "values": values}
  return out


def _cell(value) -> str:
  if isinstance(value, dict):
    return f"{value['mean']:.4g} ± {value['std']:.2g}"
  return f"{value:.4g}" if isinstance(value, float) else str(value)


def train_run(spec: str, f, device: str) -> tuple[str, dict]:
  """Trains one config over the seeds; its results entry."""
  config, name = prepare(spec, f)
  seeds = [int(s) for s in f.seeds]
  workdir = os.path.join(f.out, name)
  start = time.time()
  sweep.train_sweep(config, {"seed": seeds}, workdir)
  seconds = time.time() - start
  metrics = [_read_metrics(os.path.join(workdir, sweep.member_name({"seed": seed})))
             for seed in seeds]
  per_seed = [{k[len("eval/"):]: v for r in records for k, v in r.items()
               if k.startswith("eval/")} for records in metrics]
  losses = [[r for r in records if "d_loss" in r][-1] for records in metrics]
  first = os.path.join(workdir, sweep.member_name({"seed": seeds[0]}))
  plot_losses(metrics[0], os.path.join(workdir, "losses.png"), name)
  samples = sorted(os.listdir(os.path.join(first, "samples")))[-1]
  shutil.copy(os.path.join(first, "samples", samples), os.path.join(workdir, "samples.png"))
  return name, {
      "config": spec, "steps": config.train.num_steps,
      "batch_size": config.train.batch_size, "n_critic": config.train.n_critic,
      "device": device, "seeds": seeds, "wall_s": round(seconds, 1),
      "loop_s": round(sweep_loop_seconds(config, seeds, metrics), 1),
      "final_d_loss": [r["d_loss"] for r in losses],
      "final_g_loss": [r["g_loss"] for r in losses],
      **summarize_seeds(per_seed)}


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
    name, entry = train_run(spec, f, device)
    if name in results and entry["wall_s"] < 0.5 * results[name].get("wall_s", 0):
      entry["wall_s"] = results[name]["wall_s"]  # finished runs, only re-read
    results[name] = entry
    with open(results_path, "w") as fp:
      json.dump(results, fp, indent=1)
    print(json.dumps(entry), flush=True)
  keys = sorted({k for r in results.values() for k in r} - {
      "config", "device", "final_d_loss", "final_g_loss"})
  lines = ["| run | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
  for name, r in results.items():
    lines.append(f"| {name} | " + " | ".join(_cell(r.get(k, "")) for k in keys) + " |")
  table = "\n".join(lines) + f"\n\nDevice: {device}. Metrics: mean ± std over the seeds.\n"
  with open(os.path.join(f.out, "results.md"), "w") as fp:
    fp.write(table)
  print(table)


def _define_flags() -> None:
  """Defined only when run as a program: tests import this module."""
  flags.DEFINE_string("out", "runs/zoo", "Where the runs and the tables go.")
  flags.DEFINE_list("runs", [], "config[:arg] names from configs/, e.g. wgan_gp:mnist.")
  flags.DEFINE_integer("num_steps", 0, "Training steps of every run (0: the config's).")
  flags.DEFINE_list("seeds", ["0"], "Seeds of every run: the table gives mean ± std over them.")
  flags.DEFINE_string("data_root", "../shared/data",
                      "Holds mnist/ and fashion_mnist/ (IDX files).")
  flags.DEFINE_integer("eval_samples", 10000, "Generated samples per evaluation.")
  # Repeatable, one key=value each, so that a value may hold commas
  # (evals.metrics="fid,class_distribution"): a list flag split them, and a
  # second --set replaced the first.
  flags.DEFINE_multi_string("set", [], "An override for every run, key=value (a JSON "
                            "value); repeat the flag for several. Applied last.")


if __name__ == "__main__":
  _define_flags()
  app.run(main)
