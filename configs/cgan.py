r"""Conditional GAN (Mirza & Osindero 2014, arXiv:1411.1784) on MNIST or
Fashion-MNIST: G(z, y) and D(x, y), the one-hot label y an input of both.

Variants (`--config=configs/cgan.py:VARIANT`):
  mlp            the paper's MNIST networks: G: z -> 200, y -> 1000, joint 1200
                 -> 784 (tanh); D: x -> 240, y -> 50, joint 240 -> 1
                 (LeakyReLU for the paper's maxout; no dropout)
  dcgan          DCGAN at 28x28: y concatenated to z, and given to D as 10
                 constant input maps
  mlp_fashion, dcgan_fashion   the same on Fashion-MNIST

MNIST-format IDX files are read from data.path (default ../shared/data/mnist):

  python launch.py --config=configs/cgan.py:mlp
  python launch.py --config=configs/cgan.py:dcgan_fashion \
      --config.data.path=/path/to/fashion_mnist

Sample grids have one row per class. At the end, 10,000 samples (1,000 per
class) are scored in the shipped classifier's feature space: FID, intra-class
FID, and the classifier's accuracy at recognising the requested class.
"""

import ml_collections

from jaxgan import evaluation
from jaxgan.configs import common

VARIANTS = ("mlp", "dcgan", "mlp_fashion", "dcgan_fashion")


def model(arch: str, name: str, num_classes: int = 10) -> ml_collections.ConfigDict:
  """`config.model` of a class-conditional model at 28x28x1: 'mlp' (the
  paper's MNIST sizes) or 'dcgan'."""
  if arch == "mlp":
    return ml_collections.ConfigDict(dict(
        name=name, image_size=28, channels=1, latent_dim=100, num_classes=num_classes,
        g_z_units=200, g_y_units=1000, g_width=1200,  # G: z, y, joint layer
        d_x_units=240, d_y_units=50, d_width=240,  # D: x, y, joint layer
        dtype="float32"))
  return ml_collections.ConfigDict(dict(
      name=name, image_size=28, channels=1, latent_dim=100, num_classes=num_classes,
      g_width=32, d_width=32, dtype="float32", conv_impl="auto"))


def data(dataset: str) -> ml_collections.ConfigDict:
  """`config.data`: MNIST-format IDX files of 'mnist' or 'fashion_mnist'."""
  return ml_collections.ConfigDict(dict(
      source="idx",  # digits | tfds | idx | folder (labelled: digits, idx, tfds)
      name="", split="train", path=f"../shared/data/{dataset}", data_dir="",
      download=False, skip_corrupt=True, mixed_channels="convert", on_device=True))


def train(num_steps: int) -> ml_collections.ConfigDict:
  """`config.train` (every option of `common.train`): batch 64, 100 samples."""
  return common.train(batch_size=64, n_critic=1, steps_per_call=50, num_steps=num_steps,
                      ema_decay=0.999, log_every=250, sample_every=1000, num_samples=100,
                      checkpoint_every=2500, max_checkpoints=2)


def evals(dataset: str) -> ml_collections.ConfigDict:
  """FID, intra-class FID and classifier accuracy at the end, in the shipped
  `dataset` classifier's feature space."""
  config = evaluation.default_config()
  config.update(metrics="fid,intra_fid,classifier_accuracy",
                feature_net=f"classifier_{dataset}", num_samples=10000, every=0)
  return config


def get_config(variant: str = "mlp") -> ml_collections.ConfigDict:
  if variant not in VARIANTS:
    raise ValueError(f"Unknown cgan variant {variant!r}; valid: {', '.join(VARIANTS)}.")
  arch, _, fashion = variant.partition("_")
  dataset = "fashion_mnist" if fashion else "mnist"
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.model = model(arch, "cgan_mlp" if arch == "mlp" else "cgan_dcgan")
  config.data = data(dataset)
  config.loss = common.loss("non_saturating")
  config.optimizer = ml_collections.ConfigDict(dict(
      g=common.optimizer("adam", 2e-4, b1=0.5), d=common.optimizer("adam", 2e-4, b1=0.5)))
  config.train = train(10000 if arch == "mlp" else 5000)
  config.evals = evals(dataset)
  return config
