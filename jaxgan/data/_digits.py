"""The 1797 UCI handwritten digits that ship with jaxgan: the offline default.

`digits.npz` beside this file is scikit-learn's copy of the test set of the
UCI "Optical Recognition of Handwritten Digits" data set (8x8, values 0..16),
written by scripts/make_digits.py, which gives its provenance; reading it
needs no scikit-learn.
"""

from __future__ import annotations

import os

import numpy as np

from jaxgan.data._images import ImageDataset, check_channels, resize_images

DIGITS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'digits.npz')


def load_digits(*, image_size: int, channels: int) -> ImageDataset:
  """1797 grey 8x8 digits (values 0..16), scaled to 0..255 and resized."""
  check_channels(1, channels, "The 'digits' dataset")
  with np.load(DIGITS_FILE) as digits:
    images, labels = digits['images'], digits['labels']
  images = np.rint(images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  return ImageDataset(
      images=resize_images(images, image_size),
      labels=labels.astype(np.int32),
      num_classes=10,
      name='digits')
