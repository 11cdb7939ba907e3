"""What a person looks at: sample grids as PNG, metrics as JSON lines and TensorBoard."""

import json
import math
import os
import time

import numpy as np
from PIL import Image, ImageDraw


def image_grid(images: np.ndarray, columns: int | None = None) -> np.ndarray:
  """Tiles images (N, H, W, C) in [-1, 1] into one uint8 image with 2-pixel gaps."""
  n, h, w, c = images.shape
  columns = columns or math.ceil(math.sqrt(n))
  rows = math.ceil(n / columns)
  pad = 2
  grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), 255, np.uint8)
  pixels = np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255)
  for i, image in enumerate(pixels.astype(np.uint8)):
    r, col = divmod(i, columns)
    top, left = pad + r * (h + pad), pad + col * (w + pad)
    grid[top:top + h, left:left + w] = image
  return grid


def scatter_plot(points: np.ndarray, reference: np.ndarray | None = None,
                 size: int = 512) -> np.ndarray:
  """Draws 2-D points (black) over reference points (grey) as a uint8 RGB image."""
  everything = points if reference is None else np.concatenate([points, reference])
  finite = everything[np.all(np.isfinite(everything), axis=1)]
  extent = 1.2 * (np.abs(finite).max() if finite.size else 1.0) or 1.0
  image = Image.new("RGB", (size, size), "white")
  draw = ImageDraw.Draw(image)
  for pts, color, r in ((reference, (170, 170, 170), 1), (points, (20, 20, 160), 1)):
    if pts is None:
      continue
    pixels = (np.asarray(pts, np.float64) / extent + 1) / 2 * (size - 1)
    for x, y in pixels[np.all(np.isfinite(pixels), axis=1)]:
      draw.ellipse((x - r, size - 1 - y - r, x + r, size - 1 - y + r), fill=color)
  return np.asarray(image)


def save_png(path: str, grid: np.ndarray) -> None:
  """Writes a uint8 (H, W, 1|3) image atomically (no half-written PNG on a kill)."""
  image = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
  tmp = f"{path}.tmp"
  image.save(tmp, format="PNG")
  os.replace(tmp, path)


class MetricWriter:
  """Appends scalars to `workdir/metrics.jsonl` and to TensorBoard event files."""

  def __init__(self, workdir: str, enabled: bool = True):
    self.enabled = enabled
    if not enabled:
      return
    from tensorboardX import SummaryWriter  # Imported here: only process 0 writes.
    self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")
    self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

  def write_scalars(self, step: int, scalars: dict) -> None:
    if not self.enabled:
      return
    scalars = {k: float(v) for k, v in scalars.items()}
    self._jsonl.write(json.dumps({"step": step, "time": time.time(), **scalars}) + "\n")
    self._jsonl.flush()
    for name, value in scalars.items():
      self._tb.add_scalar(name, value, step)

  def write_image(self, step: int, name: str, grid: np.ndarray) -> None:
    if self.enabled:
      self._tb.add_image(name, grid, step, dataformats="HWC")

  def flush(self) -> None:
    if self.enabled:
      self._jsonl.flush()
      self._tb.flush()

  def close(self) -> None:
    if self.enabled:
      self._jsonl.close()
      self._tb.close()
