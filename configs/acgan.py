r"""AC-GAN (Odena et al. 2017, arXiv:1610.09585) on MNIST or Fashion-MNIST.

The generator is the conditional DCGAN generator (the one-hot class
concatenated to z); the discriminator is not told the class: from the same
features it outputs a real/fake logit and 10 class logits, and both players
add the class cross-entropy (config.loss.aux_class_weight; D on real and fake
images, G on its fakes) to the non-saturating GAN loss.

  python launch.py --config=configs/acgan.py
  python launch.py --config=configs/acgan.py:fashion_mnist \
      --config.data.path=../shared/data/fashion_mnist

Scored at the end like configs/cgan.py (FID, intra-class FID, classifier
accuracy of the requested class).
"""

import ml_collections

from jaxgan.configs import cgan, common

DATASETS = ("mnist", "fashion_mnist")


def get_config(dataset: str = "mnist") -> ml_collections.ConfigDict:
  if dataset not in DATASETS:
    raise ValueError(f"Unknown acgan dataset {dataset!r}; valid: {', '.join(DATASETS)}.")
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.model = cgan.model("dcgan", "acgan")
  config.data = cgan.data(dataset)
  config.loss = common.loss("non_saturating", aux_class_weight=1.0)
  config.optimizer = ml_collections.ConfigDict(dict(
      g=common.optimizer("adam", 2e-4, b1=0.5), d=common.optimizer("adam", 2e-4, b1=0.5)))
  config.train = cgan.train(5000)
  config.evals = cgan.evals(dataset)
  return config
