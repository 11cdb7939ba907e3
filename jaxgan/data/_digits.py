"""The UCI handwritten digits bundled with scikit-learn: the offline default."""

from __future__ import annotations

import numpy as np

from jaxgan.data._images import ImageDataset, check_channels, resize_images


def load_digits(*, image_size: int, channels: int) -> ImageDataset:
  """1797 grey 8x8 digits (values 0..16), scaled to 0..255 and resized."""
  from sklearn import datasets  # pylint: disable=g-import-not-at-top

  check_channels(1, channels, "The 'digits' dataset")
  digits = datasets.load_digits()
  images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  return ImageDataset(
      images=resize_images(images, image_size),
      labels=digits.target.astype(np.int32),
      num_classes=10,
      name='digits')
