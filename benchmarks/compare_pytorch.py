r"""jaxgan's training step against a PyTorch reference of the same GAN, timed in one run.

  pip install -e '.[bench]'   # adds torch
  python benchmarks/compare_pytorch.py [--image_size=32 --batch_size=64]
  python benchmarks/compare_pytorch.py --image_size=64 --batch_size=128  # on a GPU
  python benchmarks/compare_pytorch.py --model=sngan   # SNGAN's ResNet, n_critic 5

--model=dcgan: PyTorch's canonical DCGAN (pytorch_dcgan.py; one D and one G
update). --model=sngan: SNGAN's CIFAR-10 ResNet with spectral normalisation
and the hinge loss (pytorch_sngan.py; five D updates and one G update). Both
steps (same architecture, batch, optimizer and loss) are timed alternately, so both see the same machine load: one jaxgan call
of --steps_per_call steps (as `launch.py` trains: the config's
train.steps_per_call, 10), then as many PyTorch steps, each a Python call.
Prints JSON: median ms/step and images/s of each, the median of the per-pair
time ratios (PyTorch / jaxgan: above 1 means jaxgan is faster), the step's FLOPs
(XLA's count for the plain transposed-convolution step, the model's own
arithmetic, which both frameworks perform), and the fraction of this machine's
float32 matmul throughput (measured here, in this run) each reaches; also
jaxgan's compile time, XLA's memory plan for its step and the process's peak
resident memory (the training run's: `/usr/bin/time -v python launch.py ...`).
"""

import json
import os
import resource
import subprocess
import sys
import time

import jax
import numpy as np
import torch
from absl import app, flags

sys.path.insert(0, os.path.dirname(__file__))
import pytorch_dcgan  # noqa: E402
import pytorch_sngan  # noqa: E402
from peak import matmul_gflops  # noqa: E402
from step_throughput import JaxStep  # noqa: E402

from jaxgan.models import layers  # noqa: E402

# --image_size, --channels, --batch_size, --width, --dtype, --conv_impl, --warmup
# and --steps are step_throughput's flags.
flags.DEFINE_integer("matmul_size", 2048, "n of the n x n x n matmul that measures peak.")


def _sig(x: float) -> float:
  return float(f"{x:.3g}")


def _model_flops(f) -> float:
  """The model's arithmetic: XLA:CPU's count for the plain-layer step (the
  sub-pixel form computes a few more multiply-adds on the border). Counted on
  the CPU in a subprocess: XLA:GPU's cost analysis leaves out cuDNN's
  convolutions."""
  args = [f"--{k}={getattr(f, k)}" for k in ("model", "image_size", "channels",
                                              "batch_size", "width")]
  out = subprocess.run(
      [sys.executable, os.path.join(os.path.dirname(__file__), "step_throughput.py"),
       *args, "--conv_impl=xla", "--steps_per_call=1", "--flops_only"],
      env=dict(os.environ, JAX_PLATFORMS="cpu"), check=True, capture_output=True,
      text=True).stdout
  return float(json.loads(out.strip().splitlines()[-1])["step_flops"])


def main(_):
  f = flags.FLAGS
  device = "cuda" if jax.devices()[0].platform == "gpu" else "cpu"
  kwargs = dict(image_size=f.image_size, channels=f.channels, batch_size=f.batch_size,
                width=f.width)
  jax_step = JaxStep(**kwargs, dtype=f.dtype, conv_impl=f.conv_impl,
                     steps_per_call=f.steps_per_call, model=f.model)
  config = jax_step.config
  steps_per_call = jax_step.steps_per_call
  compile_s, jax_flops = jax_step.compile()
  model_flops = _model_flops(f)

  torch.manual_seed(0)
  size, channels = config.model.image_size, config.model.channels
  if f.model == "sngan":
    ref = pytorch_sngan.Trainer(config.model.g_width, config.model.d_width,
                                config.model.latent_dim, channels,
                                config.train.n_critic, config.train.ema_decay, device)
    real = torch.rand(config.train.n_critic, f.batch_size, channels, size, size,
                      device=device) * 2 - 1
  else:
    ref = pytorch_dcgan.Trainer(size, channels, f.width, device=device)
    real = torch.rand(f.batch_size, channels, size, size, device=device) * 2 - 1

  def torch_step():
    """As many steps as one jaxgan call runs; seconds per step."""
    start = time.perf_counter()
    for _ in range(steps_per_call):
      ref.step(real)  # .item() waits for the device
    return (time.perf_counter() - start) / steps_per_call

  for _ in range(f.warmup):
    jax_step()
    torch_step()
  jax_times, torch_times = [], []
  for _ in range(f.steps):
    jax_times.append(jax_step())
    torch_times.append(torch_step())
  peak = matmul_gflops(f.matmul_size, device)
  peak_gflops = max(peak.values())

  jax_s, torch_s = float(np.median(jax_times)), float(np.median(torch_times))
  report = {
      "device": jax.devices()[0].device_kind,
      "threads": {"torch": torch.get_num_threads(), "cpu_count": os.cpu_count()},
      **jax_step.describe(), "jaxgan_dtype": f.dtype,
      "jaxgan_conv_impl": f.conv_impl if f.conv_impl == "xla" else layers.resolve_impl(f.conv_impl),
      "versions": {"jax": jax.__version__, "torch": torch.__version__},
      "steps_per_call": steps_per_call,
      "steps_timed": f.steps * steps_per_call,
      # float32 arithmetic may run as TF32 on NVIDIA GPUs: XLA's default
      # precision allows it for matmuls and convolutions, PyTorch's defaults for
      # cuDNN convolutions only.
      "float32_precision": {
          "jax_default_matmul_precision": str(jax.config.jax_default_matmul_precision),
          "torch_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
          "torch_cudnn_allow_tf32": torch.backends.cudnn.allow_tf32},
      "jaxgan_ms": round(1e3 * jax_s, 1), "pytorch_ms": round(1e3 * torch_s, 1),
      "speedup_pytorch_over_jaxgan_time": round(
          float(np.median(np.array(torch_times) / np.array(jax_times))), 3),
      # Real images D sees per second (n_critic batches per step).
      "jaxgan_images_per_s": round(config.train.n_critic * f.batch_size / jax_s, 1),
      "pytorch_images_per_s": round(config.train.n_critic * f.batch_size / torch_s, 1),
      "step_gflop": round(model_flops / 1e9, 2),
      "jaxgan_step_gflop_as_computed": round(jax_flops / 1e9, 2),
      "matmul_gflop_per_s": {k: round(v, 1) for k, v in peak.items()},
      "jaxgan_fraction_of_matmul_peak": _sig(model_flops / jax_s / 1e9 / peak_gflops),
      "pytorch_fraction_of_matmul_peak": _sig(model_flops / torch_s / 1e9 / peak_gflops),
      "jaxgan_compile_s": round(compile_s, 2),
      # XLA's plan for the compiled step; the process (both frameworks) at its peak.
      "jaxgan_step_memory_mb": jax_step.memory_mb,
      "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3, 1),
  }
  print(json.dumps(report, indent=1))


if __name__ == "__main__":
  app.run(main)
