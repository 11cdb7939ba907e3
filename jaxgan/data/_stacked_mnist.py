"""Stacked MNIST: three MNIST digits as the three channels of one image.

1000 modes (digit triples), as in VEEGAN (Srivastava et al. 2017,
arXiv:1705.07761) and PacGAN (Lin et al. 2018, arXiv:1712.04086; its released
code trains on 128,000 such images and evaluates 26,000 samples). The mode
of an image is 100 * c0 + 10 * c1 + c2 for the digits of its channels 0, 1, 2;
`data.load` builds it for config.data.source='stacked_mnist', and
`jaxgan.evaluation.stacked_mnist_modes` counts the modes of samples from the
digits that the MNIST classifier reads in each channel.
"""

from __future__ import annotations

import numpy as np

from jaxgan.data._images import ImageDataset

NUM_MODES = 1000
NUM_TRAIN = 128_000  # PacGAN's training set size
NUM_SAMPLES = 26_000  # samples scored in VEEGAN and PacGAN


def stacked_mnist(mnist: ImageDataset, num_images: int = NUM_TRAIN, *,
                  seed: int = 0) -> ImageDataset:
  """Builds Stacked MNIST from single-channel MNIST images with labels.

  Each image stacks three MNIST images drawn independently and uniformly
  (with replacement) as channels 0, 1, 2.

  Returns:
    An ImageDataset of uint8 (num_images, H, W, 3) with labels the modes
    100 * c0 + 10 * c1 + c2 (num_classes 1000).
  """
  if mnist.labels is None or mnist.images.shape[-1] != 1:
    raise ValueError('Stacked MNIST needs labelled single-channel MNIST images.')
  rng = np.random.default_rng(seed)
  idx = rng.integers(0, len(mnist), (num_images, 3))
  images = np.concatenate([mnist.images[idx[:, c]] for c in range(3)], axis=-1)
  digits = mnist.labels[idx]
  modes = (100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2]).astype(np.int32)
  return ImageDataset(images, modes, NUM_MODES, f'stacked_mnist({mnist.name})')
