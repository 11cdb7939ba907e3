r"""The large-scale study (Lucic et al. 2018, configs/study.py) in one command:
for each dataset and loss, the wide random search as one sweep (members that
share a program vectorised: `jaxgan.sweep.plan`), FID of every setting, then
the best setting re-run over more seeds.

  python scripts/study.py                      # this CPU's hour: 4 settings x 200 steps (README)
  python scripts/study.py --settings=100 --num_steps=18750 --group_size=1  # the paper's budget

Writes WORKDIR/study.json (every setting's overrides, FID and the sweeps' wall
times, summed over the command's runs), OUT/study.md (the minimum-FID table next to the paper's) and
OUT/study_fid.png (FID's distribution per loss, one panel per dataset, like
the paper's Figure 4). A setting whose FID is not finite (its training
diverged: updates with a non-finite gradient are skipped, `train.
skip_nonfinite`) counts as a failed setting. Runs live in --workdir: running
the command again resumes unfinished sweeps and re-scores finished ones
(FID is read from each member's last evaluation).
"""

import argparse
import json
import os
import sys
import time

# Members spread over 4 CPU devices (see scripts/modern_results.py); set
# before JAX is imported.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402

from jaxgan import compilation, sweep  # noqa: E402
from jaxgan.cli import train as cli_train  # noqa: E402
from jaxgan.configs import study  # noqa: E402

DATASETS = ("mnist", "fashion_mnist")
# The paper's Table 2 (best FID, mean ± std of the best setting's restarts;
# Inception's feature space), as remembered: the paper could not be
# retrieved from this machine to re-check them. Hinge is not in the paper.
PAPER_BEST_FID = {
    "mnist": {"minimax": "9.8 ± 0.9", "non_saturating": "6.8 ± 0.5",
              "least_squares": "7.8 ± 0.6", "wgan": "6.7 ± 0.4",
              "wgan_gp": "20.3 ± 5.0", "dragan": "7.6 ± 0.4"},
    "fashion_mnist": {"minimax": "29.6 ± 1.6", "non_saturating": "26.5 ± 1.6",
                      "least_squares": "30.7 ± 2.2", "wgan": "21.5 ± 1.6",
                      "wgan_gp": "24.5 ± 2.1", "dragan": "27.7 ± 1.2"},
}


def base_config(loss: str, dataset: str, steps: int, eval_samples: int):
  """The study's config of `loss` on `dataset` for a run of `steps` G steps,
  evaluated (FID) once at the end."""
  config = study.get_config(f"{loss},{dataset}")
  config.train.update(num_steps=steps, log_every=max(steps // 10, 1),
                      sample_every=steps, checkpoint_every=max(steps // 2, 1),
                      max_checkpoints=1, skip_nonfinite=True)
  config.evals.update(num_samples=eval_samples)
  return config


def run_sweep(config, members: list[dict], workdir: str) -> dict:
  """Trains `members` as one sweep in `workdir`; each member's FID and the
  sweep's wall time and programs. The wall time is summed over every run of
  the command on this workdir (`WALL_TIMES` in it lists each run's), so a
  sweep resumed or only re-scored keeps the time it took before."""
  start = time.perf_counter()
  sweep.train_sweep(config, members, workdir)
  times = _wall_times(workdir) + [time.perf_counter() - start]
  _write_json(os.path.join(workdir, WALL_TIMES), times)
  names, _, configs = sweep.member_configs(config, members)
  rows = sweep.summary_rows(workdir, names, members)  # each member's last evaluation
  return {"wall_s": sum(times), "wall_s_runs": times,
          "programs": [[mode, len(ix)] for mode, ix in sweep.plan(configs)],
          "members": [{"overrides": m, "fid": float(r.get("eval/fid", float("nan")))}
                      for m, r in zip(members, rows, strict=True)]}


WALL_TIMES = "study_wall_times.json"


def _wall_times(workdir: str) -> list[float]:
  """Seconds each earlier run of the command spent on this sweep."""
  path = os.path.join(workdir, WALL_TIMES)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [float(t) for t in json.load(f)]


def best(members: list[dict]) -> dict | None:
  finite = [m for m in members if np.isfinite(m["fid"])]
  return min(finite, key=lambda m: m["fid"]) if finite else None


def run_cell(loss: str, dataset: str, args) -> dict:
  """One loss on one dataset: the search, then its best setting's restarts."""
  config = base_config(loss, dataset, args.num_steps, args.eval_samples)
  settings = study.search(loss, args.settings, seed=args.search_seed,
                          group_size=args.group_size)
  cell = {"loss": loss, "dataset": dataset, "steps": args.num_steps,
          "settings": args.settings}
  root = os.path.join(args.workdir, dataset, loss)
  cell["search"] = run_sweep(config, [{"seed": 0, **s} for s in settings],
                             os.path.join(root, "search"))
  top = best(cell["search"]["members"])
  seeds = [int(s) for s in args.restart_seeds.split(",") if s]
  if top is not None and seeds:
    restarts = [{**top["overrides"], "seed": s} for s in seeds]
    cell["restarts"] = run_sweep(config, restarts, os.path.join(root, "restarts"))
  return cell


def _mean_std(values) -> str:
  values = np.asarray(values, float)
  std = values.std(ddof=1) if len(values) > 1 else 0.0
  return f"{values.mean():.1f} ± {std:.1f}"


def best_setting_fids(cell: dict) -> list[float]:
  """The best search setting's FIDs: its search run (seed 0) and restarts."""
  top = best(cell["search"]["members"])
  if top is None:
    return []
  return [top["fid"]] + [m["fid"] for m in cell.get("restarts", {}).get("members", [])]


def _setting_text(loss: str, overrides: dict) -> str:
  """The searched values of a setting, by their names in `study.SEARCH_SPACE`
  and the loss's own (`study.LOSSES[loss].extra`)."""
  values = [(p.name, overrides[p.keys[0]])
            for p in study.SEARCH_SPACE + study.LOSSES[loss].extra if p.keys[0] in overrides]
  return ", ".join(f"{name} {v:.3g}" if isinstance(v, float) else f"{name} {v}"
                   for name, v in values)


def table(cells: list[dict]) -> str:
  """The minimum-FID table: per dataset and loss, the search's FIDs, the best
  setting over its seeds, and the paper's best FID."""
  rows = ["| dataset | loss | settings (failed) | FID median of the search | min FID | "
          "best setting | its FID over seeds (mean ± std) | seeds | search + restarts "
          "wall time | paper's best FID (Inception) |",
          "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
  for c in cells:
    fids = np.asarray([m["fid"] for m in c["search"]["members"]], float)
    finite = fids[np.isfinite(fids)]
    top = best(c["search"]["members"])
    over_seeds = best_setting_fids(c)
    wall = c["search"]["wall_s"] + c.get("restarts", {}).get("wall_s", 0.0)
    rows.append(
        f"| {c['dataset']} | {c['loss']} | {len(fids)} ({len(fids) - len(finite)}) | "
        f"{np.median(finite) if len(finite) else float('nan'):.1f} | "
        f"{finite.min() if len(finite) else float('nan'):.1f} | "
        f"{_setting_text(c['loss'], top['overrides']) if top else '-'} | "
        f"{_mean_std(over_seeds) if over_seeds else '-'} | {len(over_seeds)} | "
        f"{wall:.0f} s | {PAPER_BEST_FID.get(c['dataset'], {}).get(c['loss'], '-')} |")
  return "\n".join(rows) + "\n"


def plot(cells: list[dict], path: str) -> None:
  """FID's distribution over the search per loss (box and points), a panel
  per dataset."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  datasets = [d for d in DATASETS if any(c["dataset"] == d for c in cells)]
  fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.6), dpi=100,
                           squeeze=False)
  for ax, dataset in zip(axes[0], datasets, strict=True):
    mine = [c for c in cells if c["dataset"] == dataset]
    data = [[m["fid"] for m in c["search"]["members"] if np.isfinite(m["fid"])]
            for c in mine]
    ax.boxplot([d if d else [np.nan] for d in data], showfliers=False)
    rng = np.random.default_rng(0)
    for i, d in enumerate(data, start=1):
      ax.scatter(i + rng.uniform(-0.15, 0.15, len(d)), d, s=10, alpha=0.7)
    ax.set_xticks(range(1, len(mine) + 1),
                  [c["loss"].replace("_", "\n") for c in mine], fontsize=7)
    finite = [f for d in data for f in d]
    if finite and max(finite) > 5 * min(finite):
      ax.set_yscale("log")
    ax.set_ylabel("FID (classifier features)")
    ax.set_title(f"{dataset}: {mine[0]['settings']} settings x {mine[0]['steps']} steps",
                 fontsize=9)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def merge(path: str, cells: list[dict]) -> list[dict]:
  """`cells` written into the JSON at `path`, keeping other cells there."""
  merged = {}
  if os.path.exists(path):
    with open(path) as f:
      merged = {(c["dataset"], c["loss"]): c for c in json.load(f)}
  merged.update({(c["dataset"], c["loss"]): c for c in cells})
  order = [(d, loss) for d in DATASETS for loss in study.LOSSES]
  out = [merged[k] for k in order if k in merged]
  _write_json(path, out)
  return out


def _write_json(path: str, value) -> None:
  """Writes `value` as JSON at `path` atomically (no half-written file on a kill)."""
  with open(path + ".tmp", "w") as f:
    json.dump(value, f, indent=1)
  os.replace(path + ".tmp", path)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--datasets", default=",".join(DATASETS))
  parser.add_argument("--losses", default=",".join(study.LOSSES))
  parser.add_argument("--settings", type=int, default=4,
                      help="settings drawn per loss (the paper: 100)")
  parser.add_argument("--num_steps", type=int, default=200,
                      help=f"G steps per run (the paper: {study.PAPER_STEPS}, 20 epochs)")
  parser.add_argument("--restart_seeds", default="1,2",
                      help="seeds the best setting is re-run with (its search run is seed 0)")
  parser.add_argument("--search_seed", type=int, default=0)
  parser.add_argument("--group_size", type=int, default=4,
                      help="settings that share n_critic, D's norm and clip, trained as "
                      "one vectorised program (1: every value drawn independently, "
                      "as the paper)")
  parser.add_argument("--eval_samples", type=int, default=10_000)
  parser.add_argument("--workdir", default="runs/study")
  parser.add_argument("--out", default="docs/study")
  args = parser.parse_args(argv)
  for name, valid in (("datasets", DATASETS), ("losses", tuple(study.LOSSES))):
    unknown = sorted(set(getattr(args, name).split(",")) - set(valid))
    if unknown:
      parser.error(f"unknown {name} {unknown}; valid: {', '.join(valid)}")
  os.makedirs(args.out, exist_ok=True)
  # The command's persistent compilation cache: the second dataset's programs
  # are the first's (same shapes), and a resumed study compiles nothing again.
  compilation.enable_persistent_cache(cli_train.default_compilation_cache())
  cells = []
  for dataset in args.datasets.split(","):
    for loss in args.losses.split(","):
      cells.append(run_cell(loss, dataset, args))
      print(table(cells), flush=True)
      merge(os.path.join(args.workdir, "study.json"), cells)
  cells = merge(os.path.join(args.workdir, "study.json"), cells)
  with open(os.path.join(args.out, "study.md"), "w") as f:
    f.write(table(cells))
  plot(cells, os.path.join(args.out, "study_fid.png"))
  print(table(cells))


if __name__ == "__main__":
  main()
