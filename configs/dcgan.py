r"""DCGAN (Radford et al. 2016, arXiv:1511.06434) at 32x32, non-saturating loss.

Trains on the handwritten digits bundled with scikit-learn (1797 images, 8x8,
upsampled to 32x32), so it needs no network and finishes on a 2-core CPU in
minutes:

  python launch.py --config=configs/dcgan.py

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

from configs import common


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0

  config.model = ml_collections.ConfigDict(dict(
      name="dcgan",
      image_size=32,
      channels=1,
      latent_dim=100,
      g_width=32,  # channels of the generator's last hidden map (ngf)
      d_width=32,  # channels of the discriminator's first map (ndf)
      d_batch_norm=True,
      dtype="float32",  # computation dtype; "bfloat16" for mixed precision
      conv_impl="matmul",  # stride-2 layers as matrix multiplies ("xla": as convolutions)
  ))

  config.data = ml_collections.ConfigDict(dict(
      source="digits",  # digits | tfds | idx | folder
      name="",  # TFDS name for source=tfds, e.g. mnist, fashion_mnist, cifar10
      split="train",
      path="",  # directory for source=idx and source=folder
      data_dir="",  # TFDS data_dir; empty for TFDS's default
      download=False,  # TFDS only: download and prepare when not found
      skip_corrupt=True,  # folder only: skip undecodable files (with a warning)
      # folder only, when greyscale and colour images are mixed: "convert" all
      # to model.channels (with a warning that counts them) or "error"
      mixed_channels="convert",
      on_device=True,  # keep the images on each device (up to 2 GB); batch there
  ))

  config.loss = common.loss("non_saturating")
  # The same rates for both players; set them apart for TTUR (Heusel et al.).
  config.optimizer = ml_collections.ConfigDict(dict(
      g=common.optimizer("adam", 2e-4, b1=0.5), d=common.optimizer("adam", 2e-4, b1=0.5)))

  config.train = ml_collections.ConfigDict(dict(
      batch_size=64,
      n_critic=1,  # discriminator updates per generator update
      steps_per_call=10,  # training steps per compiled call (lax.scan)
      num_steps=1500,
      ema_decay=0.999,  # generator parameter EMA for samples; 0 turns it off
      log_every=50,
      sample_every=250,
      num_samples=64,
      checkpoint_every=500,
      max_checkpoints=3,
      # A step with a non-finite loss or gradient stops training with an error
      # (and workdir/divergence.json); True skips such updates instead.
      skip_nonfinite=False,
  ))

  # What is measured during training (off here: the digits are not MNIST, the
  # feature space of the shipped classifiers); see jaxgan.evaluation.
  config.evals = evaluation.default_config()
  return config


def get_sweep() -> list[dict]:
  """Two seeds times two learning rates (the same for both players), 4 runs in
  one compiled program: `python launch.py --config=configs/dcgan.py --sweep=config`."""
  return [{"seed": seed, "optimizer.g.learning_rate": lr, "optimizer.d.learning_rate": lr}
          for seed in (0, 1) for lr in (2e-4, 1e-4)]
