r"""DCGAN (Radford et al. 2016, arXiv:1511.06434) on CIFAR-10, 32x32.

Adam(2e-4, b1=0.5), batch 128, ngf = ndf = 64, non-saturating loss, EMA
generator for samples. FID against the training set with pytorch-fid's
Inception (its weights are downloaded on first use) at the end.

  # Once: prepare CIFAR-10 for TFDS (needs TensorFlow: pip install -e '.[tf]').
  tfds build cifar10 --file_format=array_record
  python launch.py --config=configs/dcgan_cifar10.py
"""

import ml_collections

from jaxgan import evaluation
from jaxgan.configs import common


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.model = common.model("dcgan", image_size=32, channels=3, latent_dim=100,
                              g_width=64, d_width=64)
  config.data = common.data("tfds", name="cifar10")
  config.loss = common.loss("non_saturating")
  config.optimizer = common.optimizers("adam", 2e-4, b1=0.5)
  config.train = common.train(batch_size=128, num_steps=100_000, log_every=100,
                              sample_every=2000, checkpoint_every=5000)
  config.evals = evaluation.default_config()
  config.evals.update(metrics="fid", every=10_000, num_samples=10_000,
                      feature_net="inception", best_metric="fid")
  return config
