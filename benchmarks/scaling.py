r"""How the training step's time grows: with the batch, with the resolution,
and with the members of a vectorised sweep. Prints JSON.

  python benchmarks/scaling.py [--batches=16,32,64,128,256,512]
      [--sizes=32,64,128] [--members=1,2,4,8,16]

- batch: DCGAN-32 (3 channels, width 64: step_throughput's --width) at each
  batch size.
- resolution: DCGAN at 32, 64 and 128 px (3 channels, width 64, batch 64).
- sweep: the default run's program (configs/dcgan.py: the 8x8 digits at
  32x32x1, width 32, batch 64) as a vectorised sweep of n members (seeds
  0..n-1, `jaxgan.sweep`'s own step: vmapped members on one device) against
  the same config trained as single runs one after another (the trainer's
  step): member-steps per second of each.

Each row: the compile time, then the median of --calls timed calls of
--steps_per_call steps (step_throughput's flag; 2 here by default) (after
one untimed call); ms per step, images per
second (real images D sees), GFLOP/s (XLA's count of the compiled step) and
the fraction of this machine's float32 matmul throughput, measured in this run.
"""

import json
import os
import sys
import time

import jax
import numpy as np
from absl import app, flags
from flax import jax_utils

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from peak import matmul_gflops, median_time  # noqa: E402
from step_throughput import JaxStep  # noqa: E402

from jaxgan import sweep  # noqa: E402
from jaxgan.train import setup  # noqa: E402

from configs import dcgan  # noqa: E402

flags.DEFINE_list("batches", ["16", "32", "64", "128", "256", "512"],
                  "DCGAN-32 batch sizes.")
flags.DEFINE_list("sizes", ["32", "64", "128"], "DCGAN resolutions (batch 64).")
flags.DEFINE_list("members", ["1", "2", "4", "8", "16"], "Vectorised sweep sizes.")
flags.DEFINE_integer("calls", 3, "Timed calls per row, after one untimed call.")
flags.DEFINE_integer("matmul_size", 2048, "n of the n x n x n matmul that measures peak.")


def _flops(compiled) -> float:
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost.get("flops", float("nan"))) if cost else float("nan")


def step_row(f, **kwargs) -> dict:
  step = JaxStep(channels=3, width=f.width, steps_per_call=f.steps_per_call, **kwargs)
  compile_s, flops = step.compile()
  seconds = median_time(step, f.calls) / f.steps_per_call
  return {**step.describe(), "compile_s": round(compile_s, 2),
          "ms_per_step": round(1e3 * seconds, 1),
          "images_per_s": round(kwargs["batch_size"] / seconds, 1),
          "step_gflop": round(flops / 1e9, 2), "gflop_per_s": round(flops / 1e9 / seconds, 1)}


def _default_config(steps_per_call: int):
  config = dcgan.get_config()
  config.train.steps_per_call = steps_per_call
  config.train.num_steps = 10 ** 6  # no schedule depends on it here
  return config


def single_run_row(f) -> dict:
  """The default config's trainer step, one run: seconds per step."""
  config = _default_config(f.steps_per_call)
  dataset, _ = setup.load_dataset(config)
  state, p_step, _ = setup.build(config, dataset.images.shape[1:])
  batches = setup.Batches(config, dataset, 0)
  try:
    box = {"state": jax_utils.replicate(state)}
    batch = batches(0, f.steps_per_call)
    rng = jax_utils.replicate(jax.random.PRNGKey(1))
    start = time.perf_counter()
    compiled = p_step.compile(box["state"], batch, rng, batches.data)
    compile_s = time.perf_counter() - start

    def call():
      box["state"], metrics = p_step(box["state"], batch, rng, batches.data)
      jax.block_until_ready(metrics)
    seconds = median_time(call, f.calls) / f.steps_per_call
  finally:
    batches.close()
  return {"compile_s": round(compile_s, 2), "ms_per_step": round(1e3 * seconds, 1),
          "member_steps_per_s": round(1 / seconds, 2),
          "step_gflop": round(_flops(compiled) / 1e9, 3)}


def sweep_row(f, num_members: int) -> dict:
  """A vectorised sweep of the default config's seeds 0..n-1."""
  base = _default_config(f.steps_per_call)
  dataset, _ = setup.load_dataset(base)
  configs = []
  for seed in range(num_members):
    config = base.copy_and_resolve_references()
    config.seed = seed
    configs.append(config)
  layout = sweep._Layout(num_members)
  init, p_step, _ = sweep._program(base, dataset.images.shape[1:], (), layout.devices)
  box = {"states": layout.put(sweep.initial_states(configs, init))}
  rngs = layout.put(np.stack([jax.random.PRNGKey(s) for s in range(num_members)]))
  batches = sweep._SweepBatches(configs, dataset, layout)
  batch = batches(0, f.steps_per_call)
  start = time.perf_counter()
  compiled = p_step.compile(box["states"], batch, rngs, batches.data, {})
  compile_s = time.perf_counter() - start

  def call():
    box["states"], metrics = p_step(box["states"], batch, rngs, batches.data, {})
    jax.block_until_ready(metrics)
  seconds = median_time(call, f.calls) / f.steps_per_call
  del compiled  # (XLA counts a lax.map's body once: no FLOPs from it)
  return {"members": num_members, "compile_s": round(compile_s, 2),
          "ms_per_step": round(1e3 * seconds, 1),
          "member_steps_per_s": round(num_members / seconds, 2)}


def main(_):
  f = flags.FLAGS
  # step_throughput's --steps_per_call (default here: 2).
  f.steps_per_call = f.steps_per_call or 2
  report = {"device": jax.devices()[0].device_kind, "cpu_count": os.cpu_count(),
            "jax": jax.__version__, "steps_per_call": f.steps_per_call,
            "calls_timed": f.calls}
  report["batch"] = [step_row(f, image_size=32, batch_size=int(b)) for b in f.batches]
  report["resolution"] = [step_row(f, image_size=int(s), batch_size=64) for s in f.sizes]
  single = single_run_row(f)
  rows = [sweep_row(f, int(n)) for n in f.members]
  for row in rows:
    row["speedup_over_one_after_another"] = round(
        row["member_steps_per_s"] / single["member_steps_per_s"], 2)
  report["sweep"] = {"config": "configs/dcgan.py (digits 32x32x1, width 32, batch 64)",
                     "single_run": single, "vectorised": rows}
  peak = matmul_gflops(f.matmul_size)
  peak_gflops = max(peak.values())
  report["matmul_gflop_per_s"] = {k: round(v, 1) for k, v in peak.items()}
  for row in report["batch"] + report["resolution"]:
    row["fraction_of_matmul_peak"] = round(row["gflop_per_s"] / peak_gflops, 3)
  print(json.dumps(report, indent=1))


if __name__ == "__main__":
  app.run(main)
