r"""Times the compiled training step and prints JSON.

  python benchmarks/step_throughput.py [--model=dcgan --image_size=32 --batch_size=64]
  python benchmarks/step_throughput.py --model=sngan   # SNGAN's CIFAR-10 ResNet

Reports the compile time, the median milliseconds per step over --steps timed
calls (after --warmup) of --steps_per_call steps each (as `launch.py` trains:
the config's train.steps_per_call, 10), images per second, the FLOPs XLA
counts in one step, XLA's memory plan for the step and the process's peak
resident memory. One step = the config's n_critic discriminator updates and
one generator update: DCGAN (configs/dcgan.py) n_critic=1; SNGAN
(configs/sngan.py, G width 256, D width 128, 32x32x3, hinge, spectral norm)
n_critic=5.
"""

import json
import os
import resource
import sys
import time

import jax
import numpy as np
from absl import app, flags
from flax import jax_utils

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from jaxgan import models  # noqa: E402
from jaxgan.train import state as state_lib  # noqa: E402
from jaxgan.train import step as step_lib  # noqa: E402
from jaxgan.train import trainer  # noqa: E402

from configs import dcgan, sngan  # noqa: E402

MODELS = ("dcgan", "sngan")

flags.DEFINE_enum("model", "dcgan", MODELS, "dcgan (configs/dcgan.py) or sngan "
                  "(configs/sngan.py's CIFAR-10 ResNet: 32x32x3, its own widths).")
flags.DEFINE_integer("image_size", 32, "DCGAN resolution: 28, 32, 64 or 128.")
flags.DEFINE_integer("channels", 3, "Image channels.")
flags.DEFINE_integer("batch_size", 64, "Global batch size.")
flags.DEFINE_integer("width", 64, "DCGAN's g_width and d_width.")
flags.DEFINE_string("dtype", "float32", "Compute dtype: float32 or bfloat16.")
flags.DEFINE_string("conv_impl", "auto", "config.model.conv_impl: auto, conv, matmul or xla.")
flags.DEFINE_integer("steps_per_call", None,
                     "Training steps per compiled call (lax.fori_loop); default: the "
                     "DCGAN config's train.steps_per_call, as `launch.py` trains.")
flags.DEFINE_integer("warmup", 3, "Untimed calls after compiling.")
flags.DEFINE_integer("steps", 20, "Timed calls.")
flags.DEFINE_bool("flops_only", False, "Only compile, and print XLA's FLOP count.")


def step_memory_mb(compiled) -> dict:
  """XLA's memory plan of a compiled step on one device, in MB: its arguments
  (state and batch; the state's buffers are donated to the outputs) and the
  temporaries it needs at its peak."""
  stats = compiled.memory_analysis()
  if stats is None:
    return {}
  peak = (stats.argument_size_in_bytes + stats.output_size_in_bytes
          - stats.alias_size_in_bytes + stats.temp_size_in_bytes)
  return {"arguments": round(stats.argument_size_in_bytes / 1e6, 1),
          "temporaries": round(stats.temp_size_in_bytes / 1e6, 1),
          "peak": round(peak / 1e6, 1)}


def bench_config(model, *, image_size, channels, batch_size, width, dtype, conv_impl):
  """The config whose step is timed: DCGAN at `image_size` and `width`, or
  SNGAN's CIFAR-10 ResNet as configs/sngan.py has it (32x32x3, G width 256,
  D width 128; image_size, channels and width are then not used)."""
  if model == "sngan":
    config = sngan.get_config("cifar10")
    config.model.update(dtype=dtype, conv_impl=conv_impl)
    # The step pytorch_sngan.py times too (and the README's figures were
    # measured with): G's update on D's last batch, a constant learning rate.
    config.train.g_batch_multiple = 1
    for player in ("g", "d"):
      config.optimizer[player].schedules = ""
  else:
    config = dcgan.get_config()
    config.model.update(image_size=image_size, channels=channels, g_width=width,
                        d_width=width, dtype=dtype, conv_impl=conv_impl)
  config.train.batch_size = batch_size
  return config


class JaxStep:
  """The jaxgan DCGAN step on all local devices, with a fixed random batch."""

  def __init__(self, *, image_size, channels, batch_size, width, dtype="float32",
               conv_impl="auto", steps_per_call=None, model="dcgan"):
    config = bench_config(model, image_size=image_size, channels=channels,
                          batch_size=batch_size, width=width, dtype=dtype,
                          conv_impl=conv_impl)
    self.config = config
    self.steps_per_call = steps_per_call or config.train.steps_per_call
    image_size, channels = config.model.image_size, config.model.channels
    trainer.check_config(config)
    num_devices = jax.local_device_count()
    g, d = models.create(config.model, axis_name=step_lib.AXIS)
    state = state_lib.create(
        jax.random.PRNGKey(0), g, d, trainer.make_optimizer(config.optimizer.g),
        trainer.make_optimizer(config.optimizer.d), latent_dim=config.model.latent_dim,
        image_shape=(image_size, image_size, channels), ema_decay=config.train.ema_decay)
    self.state = jax_utils.replicate(state)
    self.rng = jax_utils.replicate(jax.random.PRNGKey(1))
    # (devices, steps per call, n_critic, per-device batch, H, W, C)
    images = np.random.default_rng(0).integers(
        0, 256, (num_devices, self.steps_per_call, config.train.n_critic,
                 batch_size // num_devices,
                 image_size, image_size, channels), np.uint8)
    mesh = jax.sharding.Mesh(jax.local_devices(), ("devices",))
    self.batch = {"image": jax.device_put(
        images, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("devices")))}
    self.p_step = step_lib.make_train_step(g, d, config, num_devices)

  def describe(self) -> dict:
    model = self.config.model
    name = "sngan32" if model.name == "resnet" else f"dcgan{model.image_size}"
    return {"model": name, "batch_size": self.config.train.batch_size,
            "n_critic": self.config.train.n_critic, "g_width": model.g_width,
            "d_width": model.d_width, "channels": model.channels}

  def compile(self) -> tuple[float, float]:
    """Compiles the step; returns (seconds, FLOPs counted by XLA) and keeps
    XLA's memory plan in `memory_mb`."""
    start = time.perf_counter()
    compiled = self.p_step.compile(self.state, self.batch, self.rng)
    seconds = time.perf_counter() - start
    self.memory_mb = step_memory_mb(compiled)
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return seconds, float(cost.get("flops", float("nan"))) if cost else float("nan")

  def __call__(self) -> float:
    """Runs one call (`steps_per_call` steps) to completion; returns the wall
    time per step in seconds."""
    start = time.perf_counter()
    self.state, metrics = self.p_step(self.state, self.batch, self.rng)
    jax.block_until_ready(metrics)
    return (time.perf_counter() - start) / self.steps_per_call


def main(_):
  f = flags.FLAGS
  step = JaxStep(image_size=f.image_size, channels=f.channels, batch_size=f.batch_size,
                 width=f.width, dtype=f.dtype, conv_impl=f.conv_impl,
                 steps_per_call=f.steps_per_call, model=f.model)
  compile_s, flops = step.compile()
  if f.flops_only:
    print(json.dumps({"step_flops": flops}))
    return
  for _ in range(f.warmup):
    step()
  times = [step() for _ in range(f.steps)]
  median = float(np.median(times))
  print(json.dumps({
      **step.describe(), "dtype": f.dtype, "conv_impl": f.conv_impl,
      "steps_per_call": step.steps_per_call,
      "devices": f"{jax.local_device_count()} x {jax.devices()[0].device_kind}",
      "compile_s": round(compile_s, 2), "median_ms_per_step": round(1e3 * median, 1),
      "min_ms_per_step": round(1e3 * min(times), 1),
      "images_per_s": round(f.batch_size / median, 1),
      "step_gflop": round(flops / 1e9, 2),
      "gflop_per_s": round(flops / 1e9 / median, 1),
      "step_memory_mb": step.memory_mb,
      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3, 1)}))


if __name__ == "__main__":
  app.run(main)
