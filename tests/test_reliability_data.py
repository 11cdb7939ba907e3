"""Bad data gives clear errors before anything is compiled (issue 9).

Unreadable files in a folder are skipped and counted in a warning, or fail
with data.skip_corrupt=False: tests/test_data.py (test_folder_rgb,
test_folder_corrupt_file_fails_when_asked, test_folder_empty_or_missing).
"""

import logging

import ml_collections
import numpy as np
import pytest
from PIL import Image

from jaxgan import data
from jaxgan.train import trainer

from conftest import tiny_config


def _folder(root, modes):
  root.mkdir()
  for i, mode in enumerate(modes):
    colour = {"L": 100, "RGB": (200, 10, 10), "RGBA": (0, 0, 200, 255)}[mode]
    Image.new(mode, (12, 10), colour).save(root / f"{i}_{mode}.png")
  return root


def _load(root, channels, **options):
  return data.load(ml_collections.ConfigDict(dict(source="folder", path=str(root),
                                                  **options)),
                   image_size=8, channels=channels)


def test_folder_mixing_greyscale_and_colour_fails_when_asked(tmp_path):
  root = _folder(tmp_path / "images", ["RGB", "L", "RGBA"])
  with pytest.raises(ValueError, match=r"mix greyscale and colour: 1 greyscale "
                     r"\(e\.g\. .*1_L\.png\), 2 colour \(e\.g\. .*0_RGB\.png\)\. "
                     r".*data\.mixed_channels=convert"):
    _load(root, 3, mixed_channels="error")


def test_folder_mixing_greyscale_and_colour_is_converted_with_a_count(tmp_path, caplog):
  root = _folder(tmp_path / "images", ["RGB", "L", "RGBA"])
  with caplog.at_level(logging.WARNING):
    dataset = _load(root, 1)
  assert dataset.images.shape == (3, 8, 8, 1)
  assert dataset.images[1, 4, 4, 0] == 100
  assert ("mix greyscale and colour: 1 greyscale" in caplog.text
          and "all are converted to greyscale" in caplog.text)


def test_folder_of_one_kind_converts_without_a_warning(tmp_path, caplog):
  root = _folder(tmp_path / "images", ["L", "L"])
  with caplog.at_level(logging.WARNING):
    dataset = _load(root, 3, mixed_channels="error")
  np.testing.assert_array_equal(dataset.images[0, 0, 0], [100, 100, 100])
  assert "mix" not in caplog.text


def test_unknown_mixed_channels_lists_the_valid_values(tmp_path):
  root = _folder(tmp_path / "images", ["L"])
  with pytest.raises(ValueError, match="valid: convert, error"):
    _load(root, 1, mixed_channels="ignore")


@pytest.mark.parametrize("modes, mixed, error, message", [
    ([], "convert", FileNotFoundError, "No images"),
    (["RGB", "L"], "error", ValueError, "mix greyscale and colour"),
])
def test_bad_folder_fails_before_the_run_writes_anything(tmp_path, modes, mixed, error,
                                                         message):
  config = tiny_config()
  config.data.source, config.data.mixed_channels = "folder", mixed
  config.data.path = str(_folder(tmp_path / "images", modes))
  with pytest.raises(error, match=message):
    trainer.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()
