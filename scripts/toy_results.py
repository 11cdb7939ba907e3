r"""Trains the toy 2-D configs over several seeds and tabulates the mode-collapse
protocol: modes captured and % high-quality samples (mean ± std over seeds),
with a scatter plot of one run's samples over the true modes per config.

Runs in this process on one device (the default CPU device count), through
the real entry point `jaxgan.train.train_and_evaluate`; each run's scores are
the evaluation it logs at its last step (`config.evals`: 2,500 samples).

  python scripts/toy_results.py --configs=toy_ring,toy_grid,toy_collapse \
      --seeds=0,1,2,3,4 --out=docs

writes docs/toy_results_table.md, docs/toy_results.json and
docs/<config>.png. `--set KEY=VALUE` overrides a config key in every run
(for tuning, e.g. `--set train.num_steps=2000`).
"""

import argparse
import ast
import importlib
import json
import os
import sys
import tempfile
import time

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, REPO)

import jax  # noqa: E402
import numpy as np  # noqa: E402

from jaxgan import models  # noqa: E402
from jaxgan.evaluation import toy  # noqa: E402
from jaxgan.train import state as state_lib  # noqa: E402
from jaxgan.train import trainer, writers  # noqa: E402

PLOT_SIZE = 320  # pixels; keeps the PNGs small


def _override(config, assignment: str) -> None:
  """Applies 'a.b.c=value' (a Python literal, or a bare string) to `config`."""
  key, value = assignment.split("=", 1)
  try:
    value = ast.literal_eval(value)
  except (ValueError, SyntaxError):
    pass
  *parents, leaf = key.split(".")
  node = config
  for parent in parents:
    node = node[parent]
  if leaf not in node:
    raise ValueError(f"--set {assignment}: the config has no key {key!r}.")
  node[leaf] = value


def train_once(name: str, seed: int, overrides: list[str], workdir: str) -> dict:
  """Trains configs/<name>.py with `seed`; the scores of its last evaluation,
  its wall time (compilation included) and 2,500 samples for a plot."""
  config = importlib.import_module(f"configs.{name}").get_config()
  for assignment in overrides:
    _override(config, assignment)
  config.seed = seed
  steps = config.train.num_steps
  config.train.update(log_every=steps, sample_every=steps, checkpoint_every=steps)
  config.evals.every = steps
  start = time.perf_counter()
  state = trainer.train_and_evaluate(config, workdir)
  wall = time.perf_counter() - start
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    (scores,) = [r for r in map(json.loads, f) if "eval/toy_modes" in r]
  generator, _ = models.create(config.model, (2,))
  z = jax.random.normal(jax.random.PRNGKey(seed), (toy.NUM_SAMPLES, config.model.latent_dim))
  samples = generator.apply(state_lib.sampling_params(state), z, train=False)
  return {"config": name, "seed": seed, "wall_s": wall, "steps": steps,
          "batch_size": config.train.batch_size, "mixture": config.data.name,
          "modes": scores["eval/toy_modes"],
          "high_quality": scores["eval/toy_high_quality"],
          "reverse_kl": scores["eval/toy_reverse_kl"],
          "samples": np.asarray(samples)}


def _mean_std(values) -> str:
  values = np.asarray(values, np.float64)
  return f"{values.mean():.1f} ± {values.std():.1f}"


def table(runs: list[dict]) -> str:
  """A markdown table: one row per config, mean ± std over its seeds."""
  lines = ["| config | mixture | modes | % high quality | reverse KL (median) | seeds | "
           "steps x batch | wall time per run |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
  for name in dict.fromkeys(r["config"] for r in runs):
    rs = [r for r in runs if r["config"] == name]
    num_modes = toy.get(rs[0]["mixture"]).num_modes
    lines.append(
        f"| `{name}` | {rs[0]['mixture']} | {_mean_std([r['modes'] for r in rs])} / "
        f"{num_modes} | {_mean_std([r['high_quality'] for r in rs])} | "
        f"{np.median([r['reverse_kl'] for r in rs]):.3f} | {len(rs)} | "
        f"{rs[0]['steps']} x {rs[0]['batch_size']} | "
        f"{np.median([r['wall_s'] for r in rs]):.0f} s (median) |")
  return "\n".join(lines)


def plot(run: dict, path: str) -> None:
  """The run's samples (blue) over samples of the true mixture (grey)."""
  mixture = toy.get(run["mixture"])
  image = writers.scatter_plot(run["samples"], reference=mixture.sample(0, 2500),
                               size=PLOT_SIZE)
  writers.save_png(path, image)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--configs", default="toy_ring,toy_grid,toy_collapse")
  parser.add_argument("--seeds", default="0,1,2,3,4")
  parser.add_argument("--out", default=os.path.join(REPO, "docs"))
  parser.add_argument("--set", action="append", default=[], dest="overrides",
                      metavar="KEY=VALUE")
  args = parser.parse_args()
  seeds = [int(s) for s in args.seeds.split(",")]
  os.makedirs(args.out, exist_ok=True)
  runs = []
  for name in args.configs.split(","):
    for seed in seeds:
      with tempfile.TemporaryDirectory() as workdir:
        run = train_once(name, seed, args.overrides, workdir)
      runs.append(run)
      print(f"{name} seed {seed}: {run['modes']:.0f} modes, {run['high_quality']:.1f}% "
            f"high quality, reverse KL {run['reverse_kl']:.3f}, {run['wall_s']:.1f} s",
            flush=True)
    # The plot shows the first seed's run: no picking.
    plot(next(r for r in runs if r["config"] == name),
         os.path.join(args.out, f"{name}.png"))
  with open(os.path.join(args.out, "toy_results_table.md"), "w") as f:
    f.write(table(runs) + "\n")
  with open(os.path.join(args.out, "toy_results.json"), "w") as f:
    json.dump([{k: v for k, v in r.items() if k != "samples"} for r in runs], f, indent=1)
  print(table(runs))


if __name__ == "__main__":
  main()
