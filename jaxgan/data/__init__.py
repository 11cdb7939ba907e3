"""Datasets as uint8 arrays in memory, and deterministic global batches.

    dataset = data.load(config.data, image_size=32, channels=1)
    for batch in data.Batches(dataset, batch_size=64, seed=0, start_step=step):
      images = data.to_float(batch['image'])  # [-1, 1]

`config.data.source` picks the loader: 'digits' (the UCI 8x8 digits that
ship with jaxgan, offline), 'tfds' (a TensorFlow Datasets name, read without
TensorFlow; needs `pip install 'jaxgan[tfds]'`), 'idx' (MNIST-format files in
a directory), 'folder' (your own images) or 'arrayrecord' (a folder converted
once with `prepare`, read batch by batch: for data larger than memory; needs
`pip install 'jaxgan[stream]'`). `config.data.pairs` makes paired data for image-to-image models
(`load_paired`; batches then carry 'source'). The batch of each step is a pure function of (seed, step), so a run
resumed from a checkpoint's step sees the batches an uninterrupted run sees.
"""

from jaxgan.data._batches import Batches, batch_indices
from jaxgan.data._images import ImageDataset, to_float
from jaxgan.data._load import GENERATED_SOURCES, SOURCES, load
from jaxgan.data._pairs import (
    PAIRS,
    load_paired,
    source_shape,
    split_holdout,
    upsample_bicubic,
)
from jaxgan.data._stacked_mnist import stacked_mnist
from jaxgan.data._stream import ArrayRecordImages, is_lazy, prepare
from jaxgan.data._tfds import MissingExtraError

__all__ = [
    'GENERATED_SOURCES', 'PAIRS', 'SOURCES', 'ArrayRecordImages', 'Batches', 'ImageDataset',
    'MissingExtraError', 'batch_indices', 'is_lazy', 'load',
    'load_paired', 'prepare', 'source_shape', 'split_holdout', 'stacked_mnist', 'to_float',
    'upsample_bicubic',
]
