r"""DCGAN (Radford et al. 2016, arXiv:1511.06434) on your own images, 64x64 RGB.

Every png/jpg/webp/bmp/gif under the directory (e.g. anime faces) is
centre-cropped to a square and resized; unreadable files are skipped with a
count. The directory is the config argument (or data.path); an empty or
missing one is an error before anything is compiled. Adam(2e-4, b1=0.5),
batch 128, ngf = ndf = 64, non-saturating loss.

  python launch.py --config=configs/dcgan_folder.py:/path/to/images
  python launch.py --config=configs/dcgan_folder.py:/path/to/images \
      --config.model.image_size=32
"""

import ml_collections

from jaxgan import evaluation
from jaxgan.configs import common


def get_config(path: str = "") -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.model = common.model("dcgan", image_size=64, channels=3, latent_dim=100,
                              g_width=64, d_width=64)
  config.data = common.data("folder", path=path)
  config.loss = common.loss("non_saturating")
  config.optimizer = common.optimizers("adam", 2e-4, b1=0.5)
  config.train = common.train(batch_size=128, num_steps=20_000, log_every=100,
                              sample_every=1000, checkpoint_every=2000)
  config.evals = evaluation.default_config()
  return config
