r"""DCGAN (Radford et al. 2016, arXiv:1511.06434) at 32x32, non-saturating loss.

Trains on the UCI handwritten digits that ship with jaxgan (scikit-learn's
copy: 1797 images, 8x8, upsampled to 32x32), so it needs no network and
finishes on a 2-core CPU in minutes:

  python launch.py --config=configs/dcgan.py
  jaxgan train --config=dcgan   # the same, installed, from any directory

Override any value on the command line, e.g. a shorter run:

  python launch.py --config=configs/dcgan.py --config.train.num_steps=200

Other data:

  # MNIST from IDX files (train-images-idx3-ubyte.gz etc.) in a directory:
  --config.data.source=idx --config.data.path=/path/to/mnist
  # A TFDS dataset (prepared locally, or downloaded with data.download=True):
  --config.data.source=tfds --config.data.name=mnist
  --config.data.source=tfds --config.data.name=cifar10 --config.model.channels=3
  # Your own images (png/jpg of any size, resized and center-cropped):
  --config.data.source=folder --config.data.path=/path/to/images \
      --config.model.channels=3 --config.model.image_size=64
"""

import ml_collections

from jaxgan import evaluation
from jaxgan.configs import common


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0

  config.model = common.model("dcgan", image_size=32, channels=1, latent_dim=100,
                              g_width=32, d_width=32)
  config.data = common.data("digits")
  config.loss = common.loss("non_saturating")
  # The same rates for both players; set them apart for TTUR (Heusel et al.).
  config.optimizer = ml_collections.ConfigDict(dict(
      g=common.optimizer("adam", 2e-4, b1=0.5), d=common.optimizer("adam", 2e-4, b1=0.5)))

  config.train = common.train(batch_size=64, n_critic=1, num_steps=1500)

  # What is measured during training (off here: the digits are not MNIST, the
  # feature space of the shipped classifiers); see jaxgan.evaluation.
  config.evals = evaluation.default_config()
  return config


def get_sweep() -> list[dict]:
  """Two seeds times two learning rates (the same for both players), 4 runs in
  one compiled program: `python launch.py --config=configs/dcgan.py --sweep=config`."""
  return [{"seed": seed, "optimizer.g.learning_rate": lr, "optimizer.d.learning_rate": lr}
          for seed in (0, 1) for lr in (2e-4, 1e-4)]
