r"""FID Inception features: jaxgan's extraction against pytorch-fid's, in one run.

  pip install -e '.[fid-test]'   # torch, torchvision, pytorch-fid==0.3.0
  python benchmarks/fid_features.py [--batch_size=50 --image_size=32 --calls=6]

Both run pytorch-fid's FID Inception-v3 (`InceptionV3([3])`, resize_input and
normalize_input on, as `fid_score.py` builds it) on the same images: uint8
pixels of --image_size, bilinearly resized to 299x299 by each network. The
weights are random (this machine cannot download the published ones; the
arithmetic does not depend on their values): pytorch-fid's network is built
from a state dict of its own random initialisation placed where torch.hub looks
for the published file, and jaxgan loads that same file
(`jaxgan.evaluation._features.inception(path)`).

jaxgan is timed as FID calls it (`FeatureNet.extract`: compiled once, batches
of --batch_size), and also compiled without `jaxgan.compilation.compiler_options()`
(XLA:CPU's defaults) to show what the options give. pytorch-fid is timed as
`fid_score.get_activations` runs it: `model(batch)` under `torch.no_grad()`
with the model in eval mode. The three are timed alternately, a batch each per
round, so all see the same load. Prints JSON: median images/s of each, the
ratio jaxgan / pytorch-fid, XLA's FLOP count per image, and each one's
fraction of this machine's float32 matmul throughput, measured in this run.
"""

import json
import os
import sys
import tempfile
import time

import jax
import numpy as np
import torch
from absl import app, flags
from flax import jax_utils

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from peak import matmul_gflops  # noqa: E402

from jaxgan import compilation  # noqa: E402
from jaxgan.evaluation import _features, _inception  # noqa: E402

flags.DEFINE_integer("batch_size", 50, "Images per batch (pytorch-fid's default: 50).")
flags.DEFINE_integer("image_size", 32, "Side of the generated images before the resize.")
flags.DEFINE_integer("calls", 6, "Timed batches per implementation, after one warm-up.")
flags.DEFINE_integer("matmul_size", 2048, "n of the n x n x n matmul that measures peak.")


def _pytorch_fid_weights(directory: str) -> str:
  """pytorch-fid's FID network with its own random initialisation, saved
  where torch.hub looks for the published file; returns the path."""
  import pytorch_fid.inception as pfi
  torch.manual_seed(0)
  net = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
  net.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
  net.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
  net.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
  net.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
  net.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
  net.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
  net.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
  net.Mixed_7b = pfi.FIDInceptionE_1(1280)
  net.Mixed_7c = pfi.FIDInceptionE_2(2048)
  checkpoints = os.path.join(directory, "hub", "checkpoints")
  os.makedirs(checkpoints)
  path = os.path.join(checkpoints, _inception.WEIGHTS_FILE)
  torch.save(net.state_dict(), path)
  return path


def _timer(fn):
  def timed():
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
  return timed


def main(_):
  f = flags.FLAGS
  import pytorch_fid
  import pytorch_fid.inception as pfi
  home = tempfile.mkdtemp()
  os.environ["TORCH_HOME"] = home
  path = _pytorch_fid_weights(home)
  reference = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
  net = _features.inception(path)

  device = "cuda" if jax.default_backend() == "gpu" else "cpu"
  reference = reference.to(device)
  images = np.random.default_rng(0).integers(
      0, 256, (f.batch_size, f.image_size, f.image_size, 3), np.uint8)

  def run_torch():  # as fid_score.get_activations: batch to the device, features back
    with torch.no_grad():
      batch = torch.from_numpy(images.transpose(0, 3, 1, 2) / 255.0).float().to(device)
      reference(batch)[0].cpu().numpy()

  # The same pmapped network compiled with XLA's default options.
  plain = compilation.CompiledStep(jax.pmap(net.apply), {})
  variables = jax_utils.replicate(net.variables)
  n = jax.local_device_count()
  shards = images.reshape(n, f.batch_size // n, *images.shape[1:])
  compiled = compilation.CompiledStep(jax.pmap(net.apply), compilation.compiler_options())
  flops = compiled.compile(variables, shards).cost_analysis()
  flops = flops[0] if isinstance(flops, (list, tuple)) else flops
  flops_per_image = float(flops["flops"]) * n / f.batch_size

  runs = {
      "jaxgan": _timer(lambda: net.extract(images, batch_size=f.batch_size)),
      "jaxgan_xla_default_options": _timer(
          lambda: jax.block_until_ready(plain(variables, shards))),
      "pytorch_fid": _timer(run_torch)}
  times = {name: [] for name in runs}
  for run in runs.values():
    run()  # compile / warm up
  for _ in range(f.calls):
    for name, run in runs.items():
      times[name].append(run())
  peak = matmul_gflops(f.matmul_size, device)
  peak_gflops = max(peak.values())
  rate = {name: f.batch_size / float(np.median(t)) for name, t in times.items()}
  report = {
      "device": jax.devices()[0].device_kind, "cpu_count": os.cpu_count(),
      "torch_threads": torch.get_num_threads(),
      "versions": {"jax": jax.__version__, "torch": torch.__version__,
                   "pytorch_fid": pytorch_fid.__version__},
      "batch_size": f.batch_size, "input": f"{f.image_size}x{f.image_size}x3 uint8 -> 299",
      "batches_timed": f.calls,
      "images_per_s": {k: round(v, 2) for k, v in rate.items()},
      "jaxgan_over_pytorch_fid": round(rate["jaxgan"] / rate["pytorch_fid"], 3),
      "options_gain": round(rate["jaxgan"] / rate["jaxgan_xla_default_options"], 3),
      "gflop_per_image_xla_count": round(flops_per_image / 1e9, 2),
      "matmul_gflop_per_s": {k: round(v, 1) for k, v in peak.items()},
      "fraction_of_matmul_peak": {
          k: round(v * flops_per_image / 1e9 / peak_gflops, 3) for k, v in rate.items()},
  }
  print(json.dumps(report, indent=1))


if __name__ == "__main__":
  app.run(main)
