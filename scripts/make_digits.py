r"""Writes jaxgan/data/digits.npz, the 1797 8x8 digits that ship with jaxgan.

  pip install scikit-learn && python scripts/make_digits.py

Provenance: scikit-learn's copy (`sklearn/datasets/data/digits.csv.gz`, read by
`sklearn.datasets.load_digits`) of the test set of the UCI "Optical
Recognition of Handwritten Digits" data set (E. Alpaydin, C. Kaynak, 1998;
https://archive.ics.uci.edu/dataset/80, CC BY 4.0): 32x32 bitmaps of digits
written by 13 people, each 4x4 block counted into one pixel of 0..16.

The file holds `images` (uint8 (1797, 8, 8), values 0..16) and `labels`
(uint8 (1797,), 0..9) in scikit-learn's order; `jaxgan.data` reads it without
scikit-learn. tests/test_data.py checks it equals scikit-learn's copy.
"""

import hashlib
import os

import numpy as np
import sklearn
from sklearn import datasets

OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'jaxgan',
                      'data', 'digits.npz')


def main() -> None:
  digits = datasets.load_digits()
  images = digits.images.astype(np.uint8)
  labels = digits.target.astype(np.uint8)
  assert np.array_equal(images, digits.images) and np.array_equal(labels, digits.target)
  np.savez_compressed(OUTPUT, images=images, labels=labels)
  with open(OUTPUT, 'rb') as f:
    digest = hashlib.sha256(f.read()).hexdigest()
  print(f'Wrote {os.path.normpath(OUTPUT)} ({os.path.getsize(OUTPUT)} bytes, '
        f'sha256 {digest}) from scikit-learn {sklearn.__version__}.')


if __name__ == '__main__':
  main()
