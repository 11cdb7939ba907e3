"""Records tests/golden/augment.json: outputs of the official augmentation
code, which tests/test_augment.py compares jaxgan.augment with.

  python tests/scripts/record_augment_golden.py STYLEGAN2_ADA DATA_EFFICIENT_GANS

with checkouts of NVlabs/stylegan2-ada-pytorch and
mit-han-lab/data-efficient-gans (needs torch). ADA: the official
``AugmentPipe`` with ``debug_percentile`` (every transform applied with a
parameter set by the percentile, the post-rotation off), which the test
reproduces by replacing jaxgan.augment's random draws. DiffAugment: the
official ``DiffAugment`` fed fixed draws (its ``torch.rand``/``randint``
replaced), stored with the outputs.
"""

import json
import pathlib
import subprocess
import sys
import types

import numpy as np
import torch

OUT = pathlib.Path(__file__).resolve().parents[1] / "golden" / "augment.json"
BGC = dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
           brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)
ADA_CASES = [(3, 0.1), (3, 0.8), (1, 0.3)]   # (channels, debug_percentile)


def _commit(path):
  return subprocess.run(["git", "-C", path, "rev-parse", "HEAD"],
                        capture_output=True, text=True).stdout.strip()


def _nchw(x):
  return torch.as_tensor(x).permute(0, 3, 1, 2)


def _nhwc(x):
  return _list(x.permute(0, 2, 3, 1).numpy())


def _list(a):
  """Values to 1e-6 (the tests compare to 1e-5), short in JSON."""
  return np.round(np.asarray(a, np.float64), 6).tolist()


def ada(repo, x):
  sys.path.insert(0, repo)
  from training.augment import AugmentPipe
  pipe = AugmentPipe(**BGC)
  cases = []
  for channels, pct in ADA_CASES:
    out = pipe(_nchw(x[..., :channels]), debug_percentile=pct)
    cases.append({"channels": channels, "percentile": pct, "output": _nhwc(out)})
  return cases


def diffaugment(repo, x):
  sys.path.insert(0, repo)
  import DiffAugment_pytorch as official
  draws = []
  fake = types.ModuleType("torch_with_fixed_draws")
  fake.__getattr__ = lambda name: getattr(torch, name)
  fake.rand = fake.randint = lambda *args, **kwargs: draws.pop(0)
  official.torch = fake
  rng = np.random.default_rng(1)
  batch = x.shape[0]
  factors = np.asarray(_list(rng.uniform(size=(3, batch))), np.float32)  # rand
  shifts = rng.integers(-1, 2, size=(batch, 2))               # 8 * 1/8 = 1
  centers = rng.integers(0, 9, size=(batch, 2))               # cutout 4: [0, 8]
  draws[:] = [torch.as_tensor(f).reshape(-1, 1, 1, 1) for f in factors]
  color = official.DiffAugment(_nchw(x), "color")
  draws[:] = [torch.as_tensor(s).reshape(-1, 1, 1) for s in shifts.T]
  translation = official.DiffAugment(_nchw(x), "translation")
  draws[:] = [torch.as_tensor(c).reshape(-1, 1, 1) for c in centers.T]
  cutout = official.DiffAugment(_nchw(x), "cutout")
  return {
      # adjust_color's factors: rand - 0.5, rand * 2, rand + 0.5.
      "factors": _list([factors[0] - 0.5, factors[1] * 2, factors[2] + 0.5]),
      "shifts": shifts.tolist(), "centers": centers.tolist(),
      "color": _nhwc(color), "translation": _nhwc(translation),
      "cutout": _nhwc(cutout),
  }


def main(stylegan2_ada, data_efficient_gans):
  x = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 3))
  x = np.asarray(_list(x), np.float32)   # the stored input, exactly
  golden = {
      "sources": {
          "NVlabs/stylegan2-ada-pytorch training/augment.py":
              _commit(stylegan2_ada),
          "mit-han-lab/data-efficient-gans DiffAugment_pytorch.py":
              _commit(data_efficient_gans),
      },
      "x": _list(x),
      "ada": ada(stylegan2_ada, x),
      "diffaugment": diffaugment(data_efficient_gans, x),
  }
  OUT.write_text(json.dumps(golden) + "\n")
  print(f"wrote {OUT}")


if __name__ == "__main__":
  main(*sys.argv[1:3])
