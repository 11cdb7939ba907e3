r"""DCGAN (Radford et al. 2016, arXiv:1511.06434) on CelebA faces at 64x64.

The paper's 64x64 architecture (4x4 base, four 2x up/down-samplings,
ngf = ndf = 64), Adam(2e-4, b1=0.5), batch 128, non-saturating loss; images
centre-cropped to a square and resized. FID with pytorch-fid's Inception.

  # Once: prepare CelebA for TFDS (needs TensorFlow and the manual download
  # TFDS describes): tfds build celeb_a --file_format=array_record
  python launch.py --config=configs/dcgan_celeba64.py
"""

import ml_collections

from jaxgan import evaluation
from jaxgan.configs import common


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.model = common.model("dcgan", image_size=64, channels=3, latent_dim=100,
                              g_width=64, d_width=64)
  config.data = common.data("tfds", name="celeb_a")
  config.loss = common.loss("non_saturating")
  config.optimizer = common.optimizers("adam", 2e-4, b1=0.5)
  config.train = common.train(batch_size=128, num_steps=50_000, log_every=100,
                              sample_every=2000, checkpoint_every=5000)
  config.evals = evaluation.default_config()
  config.evals.update(metrics="fid", every=10_000, num_samples=10_000,
                      feature_net="inception", best_metric="fid")
  return config
