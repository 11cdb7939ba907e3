"""Full-reference image quality: PSNR and SSIM, per image (super-resolution
and image-to-image models are scored against their paired targets).

Both are pure NumPy functions of (N, H, W, C) arrays whose values span
`data_range` (255 for uint8 pixels, 2 for [-1, 1]).
"""

import numpy as np
from scipy import ndimage

from jaxgan.data import upsample_bicubic

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


def _pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  if x.shape != y.shape or x.ndim != 4:
    raise ValueError(f"Expected two image batches (N, H, W, C) of one shape, got "
                     f"{x.shape} and {y.shape}.")
  return x, y


def psnr(x: np.ndarray, y: np.ndarray, data_range: float = 255.0) -> np.ndarray:
  """Peak signal-to-noise ratio of each image, in dB:
  10 log10(data_range^2 / mean((x - y)^2)); inf for identical images.

  Args:
    x, y: images (N, H, W, C).
    data_range: the span of pixel values (255 for uint8).

  Returns:
    float64 (N,).
  """
  x, y = _pair(x, y)
  mse = np.mean(np.square(x - y), axis=(1, 2, 3))
  with np.errstate(divide="ignore"):
    return 10.0 * np.log10(data_range ** 2 / mse)


def _gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
  t = np.arange(size) - (size - 1) / 2
  w = np.exp(-t ** 2 / (2 * sigma ** 2))
  return w / w.sum()


def ssim(x: np.ndarray, y: np.ndarray, data_range: float = 255.0) -> np.ndarray:
  """Structural similarity of each image (Wang et al. 2004, "Image Quality
  Assessment: From Error Visibility to Structural Similarity").

  Local means, variances and covariance are weighted by an 11x11 Gaussian
  window (sigma 1.5) at every position where it fits inside the image ("valid",
  as in the authors' ssim_index.m); the SSIM map
  ((2 mu_x mu_y + C1)(2 cov + C2)) / ((mu_x^2 + mu_y^2 + C1)(var_x + var_y + C2)),
  with C1 = (0.01 L)^2 and C2 = (0.03 L)^2, is averaged over positions and
  channels.

  Args:
    x, y: images (N, H, W, C), H and W >= 11.
    data_range: L, the span of pixel values (255 for uint8).

  Returns:
    float64 (N,).
  """
  x, y = _pair(x, y)
  if min(x.shape[1:3]) < SSIM_WINDOW:
    raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, "
                     f"got {x.shape[1]}x{x.shape[2]}.")
  window = _gaussian_window()
  crop = (SSIM_WINDOW - 1) // 2

  def local_mean(a):
    for axis in (1, 2):
      a = ndimage.correlate1d(a, window, axis=axis, mode="constant")
    return a[:, crop:-crop, crop:-crop]

  mu_x, mu_y = local_mean(x), local_mean(y)
  var_x = local_mean(x * x) - mu_x ** 2
  var_y = local_mean(y * y) - mu_y ** 2
  cov = local_mean(x * y) - mu_x * mu_y
  c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
  ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)
              / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)))
  return ssim_map.mean(axis=(1, 2, 3))


def paired_scores(fakes: np.ndarray, targets: np.ndarray,
                  sources: np.ndarray | None = None) -> dict[str, float]:
  """The scores of an image-to-image model on held-out pairs.

  L1 (in [-1, 1] units, as the loss), PSNR and SSIM (on 0..255 pixels) of
  generated images against their targets, and, given smaller `sources`, PSNR
  and SSIM of their bicubic enlargement: the baseline a super-resolution
  model has to beat.

  Args:
    fakes, targets: images (N, H, W, C), floats in [-1, 1].
    sources: the model inputs (N, h, w, c), uint8; only for h < H.

  Returns:
    {'l1', 'psnr', 'ssim'}, and 'bicubic_psnr', 'bicubic_ssim' given sources.
  """
  l1 = np.mean(np.abs(np.asarray(fakes, np.float64) - np.asarray(targets, np.float64)))
  pixels = lambda x: np.clip(np.round((np.asarray(x, np.float64) + 1) * 127.5), 0, 255)
  fakes, targets_f = pixels(fakes), pixels(targets)
  scores = {'l1': float(l1),
            'psnr': float(np.mean(psnr(fakes, targets_f))),
            'ssim': float(np.mean(ssim(fakes, targets_f)))}
  if sources is not None and sources.shape[1] < targets.shape[1]:
    bicubic = upsample_bicubic(sources, targets.shape[1:3]).astype(np.float64)
    scores['bicubic_psnr'] = float(np.mean(psnr(bicubic, targets_f)))
    scores['bicubic_ssim'] = float(np.mean(ssim(bicubic, targets_f)))
  return scores
