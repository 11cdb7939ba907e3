r"""Times the compiled DCGAN training step and prints JSON.

  python benchmarks/step_throughput.py [--image_size=32] [--batch_size=64]

Reports the compile time, the median milliseconds per step over --steps timed
steps (after --warmup), images per second, and the FLOPs XLA counts in the step.
One step = one discriminator and one generator update (n_critic=1).
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
from jaxgan import models  # noqa: E402
from jaxgan.train import state as state_lib  # noqa: E402
from jaxgan.train import step as step_lib  # noqa: E402
from jaxgan.train import trainer  # noqa: E402

from configs import dcgan  # noqa: E402

flags.DEFINE_integer("image_size", 32, "DCGAN resolution: 28, 32 or 64.")
flags.DEFINE_integer("channels", 3, "Image channels.")
flags.DEFINE_integer("batch_size", 64, "Global batch size.")
flags.DEFINE_integer("width", 64, "g_width and d_width.")
flags.DEFINE_string("dtype", "float32", "Compute dtype: float32 or bfloat16.")
flags.DEFINE_string("conv_impl", "subpixel", "Stride-2 layers: subpixel or xla.")
flags.DEFINE_integer("warmup", 3, "Untimed steps after compiling.")
flags.DEFINE_integer("steps", 20, "Timed steps.")
FLAGS = flags.FLAGS


def main(_):
  config = dcgan.get_config()
  config.model.image_size = FLAGS.image_size
  config.model.channels = FLAGS.channels
  config.model.g_width = config.model.d_width = FLAGS.width
  config.model.dtype = FLAGS.dtype
  config.model.conv_impl = FLAGS.conv_impl
  config.train.batch_size = FLAGS.batch_size
  trainer.check_config(config)

  num_devices = jax.local_device_count()
  generator, discriminator = models.create(config.model, axis_name=step_lib.AXIS)
  state = state_lib.create(
      jax.random.PRNGKey(0), generator, discriminator,
      trainer.make_optimizer(config.optimizer.g), trainer.make_optimizer(config.optimizer.d),
      latent_dim=config.model.latent_dim,
      image_shape=(FLAGS.image_size, FLAGS.image_size, FLAGS.channels),
      ema_decay=config.train.ema_decay)
  state = jax_utils.replicate(state)
  rng = jax_utils.replicate(jax.random.PRNGKey(1))
  images = np.random.default_rng(0).integers(
      0, 256, (num_devices, 1, FLAGS.batch_size // num_devices, FLAGS.image_size,
               FLAGS.image_size, FLAGS.channels), np.uint8)
  mesh = jax.sharding.Mesh(jax.local_devices(), ("devices",))
  batch = {"image": jax.device_put(
      images, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("devices")))}

  p_step = step_lib.make_train_step(generator, discriminator, config, num_devices)
  start = time.perf_counter()
  compiled = p_step.lower(state, batch, rng).compile()
  compile_s = time.perf_counter() - start
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  flops = float(cost.get("flops", float("nan"))) if cost else float("nan")

  for _ in range(FLAGS.warmup):
    state, metrics = p_step(state, batch, rng)
  jax.block_until_ready(metrics)
  times = []
  for _ in range(FLAGS.steps):
    start = time.perf_counter()
    state, metrics = p_step(state, batch, rng)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  median = float(np.median(times))
  print(json.dumps({
      "model": f"dcgan{FLAGS.image_size}", "batch_size": FLAGS.batch_size,
      "width": FLAGS.width, "channels": FLAGS.channels, "dtype": FLAGS.dtype,
      "conv_impl": FLAGS.conv_impl,
      "devices": f"{num_devices} x {jax.devices()[0].device_kind}",
      "compile_s": round(compile_s, 2), "median_ms_per_step": round(1e3 * median, 1),
      "min_ms_per_step": round(1e3 * min(times), 1),
      "images_per_s": round(FLAGS.batch_size / median, 1),
      "step_gflop": round(flops / 1e9, 2),
      "gflop_per_s": round(flops / 1e9 / median, 1)}))


if __name__ == "__main__":
  app.run(main)
