"""Deterministic global batches: the batch of a step depends on (seed, step) only.

An example counter runs through epochs; epoch `e` is the permutation of
range(N) drawn from `np.random.default_rng((seed, e))`, and batch `step` covers
counter positions [step * B, (step + 1) * B). A resumed run therefore needs
only the step (saved with the checkpoint) to see the batches an uninterrupted
run sees, and every example is seen exactly once per epoch.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable

import numpy as np

from jaxgan.data._images import ImageDataset


@functools.lru_cache(maxsize=8)
def _epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
  perm = np.random.default_rng((seed, epoch)).permutation(num_examples)
  perm.flags.writeable = False  # shared through the cache
  return perm


def batch_indices(num_examples: int, batch_size: int, seed: int,
                  step: int) -> np.ndarray:
  """Indices of the examples in global batch number `step`.

  A pure function of its arguments: batches cross epoch boundaries seamlessly,
  and the current epoch's permutation is cached, so calling it once per step
  costs a slice.

  Args:
    num_examples: N, the size of the dataset.
    batch_size: B, the global batch size (may exceed N).
    seed: a non-negative integer that fixes the order.
    step: the global batch number, from 0.

  Returns:
    int64 array (batch_size,) of indices into the dataset.
  """
  for arg, value in (('num_examples', num_examples),
                     ('batch_size', batch_size)):
    if value <= 0:
      raise ValueError(f'{arg} must be positive, got {value}.')
  if seed < 0 or step < 0:
    raise ValueError(
        f'seed and step must be non-negative, got seed={seed}, step={step}.')
  start = step * batch_size
  stop = start + batch_size
  parts = []
  for epoch in range(start // num_examples, (stop - 1) // num_examples + 1):
    offset = epoch * num_examples
    perm = _epoch_permutation(num_examples, seed, epoch)
    parts.append(perm[max(start - offset, 0):min(stop - offset, num_examples)])
  return parts[0].copy() if len(parts) == 1 else np.concatenate(parts)


def _gather(dataset: ImageDataset, batch_size: int, seed: int,
            select: Callable[[np.ndarray], np.ndarray] | None,
            step: int) -> dict[str, np.ndarray]:
  idx = batch_indices(len(dataset), batch_size, seed, step)
  if select is not None:
    idx = select(idx)
  batch = {'image': dataset.images[idx]}
  if dataset.labels is not None:
    batch['label'] = dataset.labels[idx]
  if dataset.sources is not None:
    batch['source'] = dataset.sources[idx]
  return batch


def _produce(gather, step: int, out: queue.Queue,
             stop: threading.Event) -> None:
  """Puts (step, batch, None) for consecutive steps, or (step, None, error)."""
  while not stop.is_set():
    try:
      item = (step, gather(step), None)
    except Exception as e:  # pylint: disable=broad-except
      item = (step, None, e)  # re-raised in the consumer's thread
    while not stop.is_set():
      try:
        out.put(item, timeout=0.1)
        break
      except queue.Full:
        continue
    if item[2] is not None:
      return
    step += 1


class Batches:
  """Iterator over the global batches of steps start_step, start_step + 1, ...

  Each item is dict(image=uint8 (B, H, W, C)) plus label=int32 (B,) when the
  dataset has labels and source=uint8 (B, h, w, c) when it is paired, gathered with `batch_indices`. A daemon thread keeps up
  to `prefetch` batches ready (0: gather on demand). `select`, if given, maps
  a step's global batch indices (B,) to the (any shape) indices to gather,
  e.g. only this process's rows of a lazily read dataset; each item's arrays
  then have that shape in front. `step` is the step of the
  batch that `next()` returns next; save it with a checkpoint and pass it back
  as `start_step` to resume.

  Usable as a context manager; `close()` stops the thread.
  """

  def __init__(self, dataset: ImageDataset, batch_size: int, seed: int,
               start_step: int = 0, prefetch: int = 2,
               select: Callable[[np.ndarray], np.ndarray] | None = None):
    if prefetch < 0:
      raise ValueError(f'prefetch must be >= 0, got {prefetch}.')
    batch_indices(len(dataset), batch_size, seed, start_step)  # validates
    self._gather = functools.partial(_gather, dataset, batch_size, seed, select)
    self.step = start_step
    self._stop = threading.Event()
    self._queue = None
    self._thread = None
    if prefetch:
      self._queue = queue.Queue(maxsize=prefetch)
      # The thread holds no reference to `self`, so an abandoned iterator is
      # garbage collected, and __del__ stops the thread.
      self._thread = threading.Thread(
          target=_produce,
          args=(self._gather, start_step, self._queue, self._stop),
          daemon=True, name='jaxgan-data-prefetch')
      self._thread.start()

  def __iter__(self) -> Batches:
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    if self._queue is None:
      batch = self._gather(self.step)
    else:
      if self._stop.is_set():
        raise StopIteration
      step, batch, error = self._queue.get()
      if error is not None:
        self._stop.set()
        raise error
      assert step == self.step, (step, self.step)
    self.step += 1
    return batch

  def close(self) -> None:
    """Stops the prefetch thread; the iterator then ends."""
    self._stop.set()
    if self._thread is not None:
      self._thread.join()

  def __del__(self):
    if hasattr(self, '_stop'):
      self._stop.set()

  def __enter__(self) -> Batches:
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()
