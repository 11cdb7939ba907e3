r"""The ring of 8 Gaussians (radius 2, std 0.02): the mode-collapse benchmark.

MLP generator and discriminator on 2-D points, non-saturating loss, tuned
(scripts/toy_results.py, docs/toy_results.md) to cover all 8 modes with >= 90%
high-quality samples: the discriminator sees 2 samples per logit (PacGAN
packing, Lin et al. 2018, `model.pack`), Adam(3e-4, b1=0.5) for both players,
batch 256, 20,000 steps, and samples come from an EMA (0.9995) of the
generator's weights, which sharpens the modes. Samples are plotted over the
data every `train.sample_every` steps; the protocol of Unrolled GAN / VEEGAN /
PacGAN (2,500 samples; high quality = within 3 std of the nearest mode; modes
captured) scores them (`jaxgan.evaluation.toy`).

  python launch.py --config=configs/toy_ring.py
"""

import ml_collections

from jaxgan import evaluation
from jaxgan.configs import common


def get_config(mixture: str = "ring") -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.model = ml_collections.ConfigDict(dict(
      name="mlp", latent_dim=16, g_width=128, d_width=128, depth=3, pack=2,
      dtype="float32"))
  config.data = ml_collections.ConfigDict(dict(
      source="toy", name=mixture, num_examples=100_000, on_device=True))
  config.loss = common.loss("non_saturating")
  config.optimizer = common.optimizers("adam", 3e-4, b1=0.5)
  config.train = common.train(
      batch_size=256, n_critic=1, steps_per_call=100, num_steps=20_000, ema_decay=0.9995,
      log_every=500, sample_every=1000, num_samples=2500, checkpoint_every=5000,
      max_checkpoints=2)

  # The published protocol: 2,500 samples, modes captured, % high quality.
  config.evals = evaluation.default_config()
  config.evals.update(metrics=f"toy_{mixture}", every=1000, num_samples=2500,
                      batch_size=2500)
  return config


def get_sweep() -> list[dict]:
  """Four seeds: `python launch.py --config=configs/toy_ring.py --sweep=config`
  trains them in one compiled program (docs/sweeps.md)."""
  return [{"seed": s} for s in range(4)]
