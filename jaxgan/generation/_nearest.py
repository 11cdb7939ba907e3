"""Nearest training images of samples: does a GAN trained on few images copy
them? Each sample beside its K nearest training images, in pixel space and
in a classifier's feature space (as the DCGAN and StyleGAN papers check
memorisation)."""

from __future__ import annotations

import numpy as np

_CHUNK = 4096  # reference rows per distance block


def nearest_neighbours(queries: np.ndarray, reference: np.ndarray, k: int
                       ) -> tuple[np.ndarray, np.ndarray]:
  """The k nearest rows of `reference` (N, D) to each row of `queries`
  (n, D) by Euclidean distance, nearest first.

  Returns:
    (indices int (n, k) into reference, distances float (n, k)).
  """
  queries = np.asarray(queries, np.float64).reshape(len(queries), -1)
  reference = np.asarray(reference).reshape(len(reference), -1)
  if queries.shape[1] != reference.shape[1]:
    raise ValueError(f'Queries of {queries.shape[1]} values, reference of '
                     f'{reference.shape[1]}.')
  k = min(k, len(reference))
  q_norms = (queries ** 2).sum(1, keepdims=True)
  best_d = np.full((len(queries), 0), np.inf)
  best_i = np.zeros((len(queries), 0), np.int64)
  for start in range(0, len(reference), _CHUNK):
    block = np.asarray(reference[start:start + _CHUNK], np.float64)
    d2 = q_norms - 2 * queries @ block.T + (block ** 2).sum(1)[None]
    cand_d = np.concatenate([best_d, d2], 1)
    cand_i = np.concatenate([best_i, np.broadcast_to(
        np.arange(start, start + len(block)), d2.shape)], 1)
    keep = np.argsort(cand_d, axis=1, kind='stable')[:, :k]
    best_d = np.take_along_axis(cand_d, keep, 1)
    best_i = np.take_along_axis(cand_i, keep, 1)
  return best_i, np.sqrt(np.maximum(best_d, 0.0))


def pixels(images: np.ndarray) -> np.ndarray:
  """uint8 images (N, H, W, C) -> float32 vectors (N, H*W*C) in [-1, 1]."""
  return (np.asarray(images, np.float32) / 127.5 - 1.0).reshape(len(images), -1)


def nearest_rows(samples: np.ndarray, reference: np.ndarray,
                 neighbours: list[np.ndarray]) -> np.ndarray:
  """Tiles for a grid of one row per sample: the sample, then for each
  array of `neighbours` (indices (n, k) into `reference`) a blank tile and
  the k images. All images uint8 (N, H, W, C); returns floats in [-1, 1]
  for `writers.image_grid` with 1 + sum(1 + k) columns."""
  blank = np.ones((1, *samples.shape[1:]), np.float32)  # white, as the gaps
  rows = []
  for i, sample in enumerate(samples):
    row = [pixels(sample[None]).reshape(1, *samples.shape[1:])]
    for indices in neighbours:
      row += [blank, pixels(reference[indices[i]]).reshape(-1, *samples.shape[1:])]
    rows.append(np.concatenate(row))
  return np.concatenate(rows)
