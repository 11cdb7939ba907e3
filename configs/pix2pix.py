r"""pix2pix (Isola et al. 2017, arXiv:1611.07004): U-Net generator, PatchGAN
discriminator on (input, image) pairs, conditional GAN loss + 100 x L1.

Paper hyperparameters: Adam(2e-4, b1=0.5, b2=0.999) for both players,
lambda_L1 = 100, batch size 1 (BatchNorm then acts as instance normalisation),
dropout 0.5 in the first decoder blocks as the only noise, 256x256 images with
a 70x70 PatchGAN. Here: 32x32 digits, a U-Net down to 1x1 (5 halvings) and a
16x16 PatchGAN (`model.patch_layers=1`, see jaxgan/models/pix2pix.py), widths
32 (the paper: 64), and batch 16: batch 1 would spend a 2-core CPU on
per-step overhead, and the BatchNorm statistics of 16 digits are stable.

The built-in task maps the edges of MNIST digits to the digits (the
edges->photos task of the paper); `data.pairs=masked` fills in a masked
square instead. The last `data.holdout` pairs are never trained on; the L1
distance, PSNR and SSIM of G's outputs on them go to metrics.jsonl as eval/*
at every sample step, with a source | generated | target grid:

  python launch.py --config=configs/pix2pix.py --config.data.path=/path/to/mnist

(MNIST IDX files; `--config.data.source=digits` needs no files at all.)
Your own aligned pairs, either a folder with A/ (inputs) and B/ (targets)
holding files of matching names, or files with input|target side by side:

  python launch.py --config=configs/pix2pix.py --config.data.pairs=folder \
      --config.data.path=/path/to/pairs --config.model.channels=3 \
      --config.data.source_channels=3 --config.model.image_size=64
"""

import ml_collections

from jaxgan import evaluation
from jaxgan.configs import common


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.seed = 0

  config.model = ml_collections.ConfigDict(dict(
      name="pix2pix",
      image_size=32,
      channels=1,
      latent_dim=1,  # unused: the noise is dropout
      g_width=32,  # ngf: channels of the first U-Net block (paper: 64)
      d_width=32,  # ndf: channels of the first PatchGAN block (paper: 64)
      num_downs=0,  # U-Net halvings; 0: down to the smallest size (1x1 at 32)
      patch_layers=1,  # PatchGAN stride-2 blocks: 1 -> 16x16 patches, 3 -> 70x70
      dtype="float32",
  ))

  config.data = ml_collections.ConfigDict(dict(
      source="idx",  # digits | tfds | idx | folder: the images pairs are made from
      pairs="edges",  # edges | masked | downsample4 | folder (your own pairs)
      pair_seed=0,  # mask positions of pairs=masked
      holdout=480,  # last pairs, held out for the eval/* scores (a multiple of num_samples)
      direction="AtoB",  # pairs=folder: A is the input ('BtoA': B is)
      source_channels=0,  # pairs=folder: input channels; 0: model.channels
      name="",
      split="train",
      path="../shared/data/mnist",
      data_dir="",
      download=False,
      skip_corrupt=True,
      mixed_channels="convert",
      on_device=True,
  ))

  config.loss = common.loss("non_saturating", l1_weight=100.0)
  config.optimizer = common.optimizers("adam", 2e-4, b1=0.5)

  # ema_decay=0: the paper samples with the trained weights; num_samples: pairs
  # per sampling batch (the grid shows these).
  config.train = common.train(batch_size=16, num_steps=2000, ema_decay=0.0,
                              sample_every=500, num_samples=48, checkpoint_every=1000,
                              max_checkpoints=2)
  config.evals = evaluation.default_config()
  return config
