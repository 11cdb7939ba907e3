r"""The modern-recipe results of the README: few-data training with and without
augmentation, and R3GAN against SNGAN and DCGAN, each setting a vectorised
sweep over seeds, scored after training with `jaxgan.evaluate`.

  python scripts/modern_results.py --experiment=fewdata --num_steps=2000 --seeds=0,1,2,3
  python scripts/modern_results.py --experiment=compare --num_steps=2000 --seeds=0,1,2,3
  python scripts/modern_results.py --experiment=architectures --num_steps=500 --seeds=0,1,2,3
  python scripts/modern_results.py --experiment=pacgan --num_steps=2000 --seeds=0,1,2,3
  python scripts/modern_results.py --experiment=pacgan_small --num_steps=20000 --seeds=0,1,2

Experiments (every setting but pacgan's: batch 64, 32x32 images, `--num_steps` generator
steps, the seeds one vectorised sweep, `jaxgan.sweep.train_sweep`):

- fewdata: 10% of Fashion-MNIST (`data.num_examples=6000`, 600 per class)
  for DCGAN (width 32) and a narrow R3GAN (`NARROW_R3GAN`), each without
  augmentation, with DiffAugment (color,translation,cutout) and with
  adaptive ADA (pipeline bgc, target 0.6). FID of 10,000 samples in the
  Fashion-MNIST classifier's feature space against all 60,000 training images
  (ADA's protocol: `evaluate_workdir(all_examples=True)`), and a plot of
  ADA's p over training.
- compare: DCGAN, SNGAN (the ResNet of configs/sngan.py, width 64) and the
  narrow R3GAN, no augmentation, on Fashion-MNIST (FID as above) and on
  Stacked MNIST (modes and KL of 26,000 samples).

- architectures: StyleGAN2 without and with ADA (configs/stylegan2.py:
  fashion_mnist, its narrow CPU networks and StyleGAN2's objective), BigGAN
  (configs/biggan.py:fashion_mnist, class-conditional: also intra-FID and
  the classifier's accuracy on the samples' classes) and SNGAN (as in
  compare) on all of Fashion-MNIST, each with its own recipe (StyleGAN2's
  lr 0.0025 and lazy R1 / path length, BigGAN's 4 D steps per G step,
  SNGAN's 5), R3GAN (its recipe as in compare, at width 32:
  `NARROW_R3GAN_W32`) and DCGAN (width 32, as in compare) as the baseline,
  also with virtual batch normalisation in G ('dcgan_vbn').
- pacgan: PacGAN's Table 2 on Stacked MNIST (Lin et al. 2018): DCGAN
  (configs/stacked_mnist.py, 28x28) and PacDCGAN2/3/4 (`:pac2` ...), 64
  packs of m samples per step (a batch of 64 m images); modes and KL of
  26,000 samples.
- pacgan_small: PacGAN's Table 3, 'D is 1/4 size of G': Unrolled GAN's small
  networks (configs/stacked_mnist.py:VARIANT_quarter, model 'unrolled'), its
  code's settings (128 packs per step, z of 256, G lr 1e-4, D lr 2e-4, Adam
  b2 0.99, no EMA) for DCGAN and PacDCGAN2/3/4; scored as pacgan.

Writes WORKDIR/modern_<experiment>.json (every member's scores and the
settings' wall times), OUT/modern_<experiment>.md (the table, mean ± std over
seeds), OUT/modern_<setting>.png (seed 0's last sample grid) and, for
fewdata, OUT/modern_ada_p.png. Runs live in --workdir (a sweep left there is
resumed, a finished one only re-scored).
"""

import argparse
import json
import os
import shutil
import sys
import time

# One CPU device per member (4 seeds): measured here for DCGAN-32 (width 32,
# batch 64), 4 members vmapped on one device train at 0.6x the speed of
# single runs one after another (the members' convolutions become grouped
# ones), 4 members on 4 devices at 1.4x. Set before JAX is imported.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402

from jaxgan import evaluate, sweep  # noqa: E402
from jaxgan.config_files import load_config  # noqa: E402
from jaxgan.configs import r3gan as r3gan_config  # noqa: E402
from jaxgan.train import schedules  # noqa: E402

# R3GAN's design (configs/r3gan.py) at a width this CPU trains: 4 stages of
# 64 channels, one block each, 32 channels per group (the CIFAR10 preset has
# 16). 'r3gan_w32' (the architectures experiment) halves the width, with 2
# groups: its step is about half as long (3.8 against 7.6 s here, one device,
# both measured while other training jobs shared the two cores).
NARROW_R3GAN = dict(stage_widths=(64,) * 4, stage_blocks=(1,) * 4,
                    stage_cardinality=(4,) * 4, expansion=2)
NARROW_R3GAN_W32 = dict(NARROW_R3GAN, stage_widths=(32,) * 4, stage_cardinality=(2,) * 4)
# ADA's adjustment speed: p can move by 1 per this many thousand real images.
# The official 500 (stylegan2-ada-pytorch train.py, ada_kimg) is set for runs of
# ~25M images; at 2,000 steps of 64 (128k images) p could not pass 0.26, so
# the speed is scaled to this budget.
ADA_KIMG = 100
AUGMENTS = {
    "none": dict(augment=""),
    "diffaugment": dict(augment="diffaugment", augment_policy="color,translation,cutout"),
    "ada": dict(augment="ada", augment_pipeline="bgc", augment_target=0.6, augment_p=0.0,
                augment_kimg=ADA_KIMG),
}
SCORES = {
    "fashion_mnist": dict(metrics="fid", feature_net="classifier_fashion_mnist",
                          num_samples=10_000),
    # a class-conditional model: also FID within each class and the
    # classifier's accuracy on the samples' labels
    "fashion_mnist_conditional": dict(
        metrics="fid,intra_fid,classifier_accuracy",
        feature_net="classifier_fashion_mnist", num_samples=10_000),
    "stacked_mnist": dict(metrics="stacked_mnist", feature_net="classifier_mnist",
                          num_samples=26_000),
}


def _data(config, dataset: str) -> None:
  """Fashion-MNIST or Stacked MNIST at 32x32."""
  source = load_config("stacked_mnist" if dataset == "stacked_mnist"
                       else "dcgan_mnist:fashion_mnist")
  config.data = source.data
  config.model.image_size = 32
  config.model.channels = 3 if dataset == "stacked_mnist" else 1


def base_config(model: str, dataset: str, steps: int):
  """The model's config on `dataset`, `steps` steps of batch 64, no
  augmentation, no evaluation during training."""
  if model in ("dcgan", "dcgan_vbn"):
    config = load_config("dcgan_mnist:fashion_mnist")
    config.unlock()
    config.model.update(g_width=32, d_width=32)
    if model == "dcgan_vbn":  # virtual batch norm in G, a reference batch of 64
      config.model.update(g_norm="virtual_batch", g_reference_size=64)
  elif model == "sngan":
    config = load_config("sngan:cifar10")  # the 32x32 ResNet
    config.unlock()
    config.model.update(g_width=64, d_width=64)
    # At a constant learning rate and G's update on D's last samples, as the
    # README's rows were measured (before sngan:cifar10 took the official
    # code's linear decay to 0 and 128 samples for G).
    for player in ("g", "d"):
      config.optimizer[player].schedules = ""
    config.train.g_batch_multiple = 1
  elif model in ("r3gan", "r3gan_w32"):
    config = load_config("r3gan:fashion_mnist")
    config.unlock()
    config.model.update(NARROW_R3GAN if model == "r3gan" else NARROW_R3GAN_W32)
    # R3GAN's cosine schedules of gamma, lr and beta2 over this run.
    r3gan_config.recipe(config, gamma=(0.05, 0.005), aug_p=0.0, steps=steps)
    config.loss.schedules = ", ".join(
        entry for entry, key, _ in schedules.entries(config.loss.schedules)
        if key != "augment_p")
  elif model.startswith("stacked_"):
    # PacGAN's Table 2 setting: configs/stacked_mnist.py (DCGAN at 28x28) and
    # its pac2/pac3/pac4 variants, 64 packs per step; with '_quarter', Table
    # 3's (Unrolled GAN's networks, 128 packs per step).
    config = load_config(f"stacked_mnist:{model.removeprefix('stacked_')}")
    config.unlock()
  elif model in ("stylegan2", "biggan"):
    # Their Fashion-MNIST variants (configs/stylegan2.py, configs/biggan.py):
    # narrow networks and the papers' objectives.
    config = load_config(f"{model}:fashion_mnist")
    config.unlock()
  else:
    raise ValueError(f"Unknown model {model!r}; valid: dcgan, dcgan_vbn, sngan, r3gan, "
                     "r3gan_w32, stylegan2, biggan, stacked_dcgan, stacked_pac2, "
                     "stacked_pac3, stacked_pac4 (each optionally _quarter or _half).")
  if not model.startswith("stacked_"):
    _data(config, dataset)
  config.loss.update(AUGMENTS["none"])
  # Batch 64, but Stacked MNIST's configs' own (64 or 128 packs of m).
  batch = config.train.batch_size if model.startswith("stacked_") else 64
  config.train.update(batch_size=batch, num_steps=steps,
                      log_every=50, sample_every=steps, checkpoint_every=steps // 2)
  del config["evals"]
  return config


def settings(experiment: str) -> list[tuple[str, str, str, str]]:
  """(name, model, dataset, augmentation) of each setting."""
  if experiment == "fewdata":
    return [(f"fewdata_{m}_{a}", m, "fashion_mnist", a)
            for m in ("dcgan", "r3gan") for a in AUGMENTS]
  if experiment == "compare":
    return [(f"compare_{m}_{d}", m, d, "none")
            for d in ("fashion_mnist", "stacked_mnist") for m in ("dcgan", "sngan", "r3gan")]
  if experiment == "architectures":
    return [("arch_stylegan2", "stylegan2", "fashion_mnist", "none"),
            ("arch_stylegan2_ada", "stylegan2", "fashion_mnist", "ada"),
            ("arch_biggan", "biggan", "fashion_mnist", "none"),
            ("arch_sngan", "sngan", "fashion_mnist", "none"),
            ("arch_r3gan", "r3gan_w32", "fashion_mnist", "none"),
            ("arch_dcgan", "dcgan", "fashion_mnist", "none"),
            ("arch_dcgan_vbn", "dcgan_vbn", "fashion_mnist", "none")]
  if experiment == "pacgan":
    return [(f"pacgan_{v}", f"stacked_{v}", "stacked_mnist", "none")
            for v in ("dcgan", "pac2", "pac3", "pac4")]
  if experiment == "pacgan_small":
    return [(f"pacgan_small_{v}", f"stacked_{v}_quarter", "stacked_mnist", "none")
            for v in ("dcgan", "pac2", "pac3", "pac4")]
  raise ValueError(f"Unknown experiment {experiment!r}; valid: fewdata, compare, "
                   "architectures, pacgan, pacgan_small.")


def run_setting(name, model, dataset, augmentation, *, steps, seeds, workdir,
                num_examples):
  """Trains the setting's seeds as one sweep and scores each member."""
  config = base_config(model, dataset, steps)
  config.loss.update(AUGMENTS[augmentation])
  if num_examples:
    config.data.num_examples = num_examples
  out = os.path.join(workdir, name)
  start = time.perf_counter()
  # Vectorised sweeps take unconditional models only: BigGAN's seeds run
  # one after another, each data-parallel over the devices.
  mode = "process" if config.model.get("num_classes", 0) else "vectorised"
  sweep.train_sweep(config, {"seed": list(seeds)}, out, mode=mode)
  train_s = time.perf_counter() - start
  members = []
  for seed in seeds:
    member = os.path.join(out, sweep.member_name({"seed": seed}))
    scores = SCORES[dataset + ("_conditional" if config.model.get("num_classes", 0)
                               else "")]
    report = evaluate.evaluate_workdir(member, all_examples=True, **scores)
    with open(os.path.join(member, "metrics.jsonl")) as f:
      records = [json.loads(line) for line in f]
    members.append({
        "seed": seed, "step": report["step"], **report["results"],
        "augment_p": [(r["step"], r["augment_p"]) for r in records if "augment_p" in r],
        "steps_per_sec": float(np.median([r["steps_per_sec"] for r in records
                                          if "steps_per_sec" in r])),
        "member_dir": member})
  return {"setting": name, "model": model, "dataset": dataset,
          "augmentation": augmentation, "steps": steps,
          "batch_size": config.train.batch_size,
          "num_examples": num_examples or None, "n_critic": config.train.n_critic,
          "train_s": train_s, "members": members}


def _mean_std(values) -> str:
  values = np.asarray(values, float)
  return f"{values.mean():.1f} ± {values.std(ddof=1) if len(values) > 1 else 0:.1f}"


def table(results: list[dict]) -> str:
  rows = ["| setting | model | data | augmentation | score (mean ± std) | seeds | "
          "steps x batch (D steps per G step) | sweep wall time |",
          "| --- | --- | --- | --- | --- | --- | --- | --- |"]
  for r in results:
    ms = r["members"]
    if r["dataset"] == "stacked_mnist":
      score = (f"modes {_mean_std([m['stacked_mnist_modes'] for m in ms])}, KL "
               + _mean_std([100 * m["stacked_mnist_kl"] for m in ms]) + " (x0.01)")
    else:
      score = f"FID {_mean_std([m['fid'] for m in ms])}"
      if "intra_fid" in ms[0]:
        score += (f", intra-FID {_mean_std([m['intra_fid'] for m in ms])}, accuracy "
                  f"{_mean_std([100 * m['classifier_accuracy'] for m in ms])} %")
    data = r["dataset"] + (f" ({r['num_examples']} images)" if r["num_examples"] else "")
    rows.append(f"| {r['setting']} | {r['model']} | {data} | {r['augmentation']} | {score} | "
                f"{','.join(str(m['seed']) for m in ms)} | {r['steps']} x {r['batch_size']} "
                f"({r['n_critic']}) | {r['train_s']:.0f} s |")
  return "\n".join(rows) + "\n"


def merge_results(path: str, results: list[dict], order: list[str]) -> list[dict]:
  """Writes `results` into the JSON file at `path`, keeping the entries of
  settings not run this time; returns every entry in the experiment's order."""
  merged = {}
  if os.path.exists(path):
    with open(path) as f:
      merged = {r["setting"]: r for r in json.load(f)}
  merged.update({r["setting"]: r for r in results})
  merged = [merged[name] for name in order if name in merged]
  with open(path + ".tmp", "w") as f:
    json.dump(merged, f, indent=1)
  os.replace(path + ".tmp", path)
  return merged


def plot_ada_p(results: list[dict], path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
  for r in results:
    if r["augmentation"] != "ada":
      continue
    for m in r["members"]:
      steps, p = zip(*m["augment_p"], strict=True)
      ax.plot(steps, p, label=f"{r['model']} seed {m['seed']}")
  ax.set_xlabel("generator step")
  ax.set_ylabel("ADA p")
  ax.set_title("ADA's p on 6,000 Fashion-MNIST images (target 0.6)", fontsize=9)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def copy_samples(result: dict, out: str) -> None:
  member = result["members"][0]["member_dir"]
  grids = sorted(os.listdir(os.path.join(member, "samples")))
  if grids:
    shutil.copy(os.path.join(member, "samples", grids[-1]),
                os.path.join(out, f"modern_{result['setting']}.png"))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--experiment", required=True,
                      choices=("fewdata", "compare", "architectures", "pacgan", "pacgan_small"))
  parser.add_argument("--num_steps", type=int, default=2000)
  parser.add_argument("--seeds", default="0,1,2,3")
  parser.add_argument("--num_examples", type=int, default=None,
                      help="training images (default: 6000 for fewdata, all for compare)")
  parser.add_argument("--only", default="", help="comma-separated setting names to run")
  parser.add_argument("--workdir", default="runs/modern")
  parser.add_argument("--out", default="docs/modern")
  args = parser.parse_args()
  seeds = [int(s) for s in args.seeds.split(",")]
  num_examples = args.num_examples
  if num_examples is None:
    num_examples = 6000 if args.experiment == "fewdata" else 0
  os.makedirs(args.out, exist_ok=True)
  chosen = settings(args.experiment)
  if args.only:
    chosen = [s for s in chosen if s[0] in args.only.split(",")]
  results = []
  for name, model, dataset, augmentation in chosen:
    results.append(run_setting(name, model, dataset, augmentation, steps=args.num_steps,
                               seeds=seeds, workdir=args.workdir,
                               num_examples=num_examples))
    copy_samples(results[-1], args.out)
    print(table(results), flush=True)
  # Every member's scores and ADA trace are run output: beside the runs. A
  # run with --only replaces its settings' entries and keeps the others.
  results = merge_results(os.path.join(args.workdir, f"modern_{args.experiment}.json"),
                          results, [name for name, *_ in settings(args.experiment)])
  with open(os.path.join(args.out, f"modern_{args.experiment}.md"), "w") as f:
    f.write(table(results))
  if args.experiment == "fewdata":
    plot_ada_p(results, os.path.join(args.out, "modern_ada_p.png"))
  print(table(results))


if __name__ == "__main__":
  main()
