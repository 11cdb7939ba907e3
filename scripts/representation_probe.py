r"""DCGAN's representation-learning evaluation over a sweep's members
(`jaxgan.evaluate.discriminator_linear_probe`): a linear classifier on each
trained discriminator's layers (max-pooled to 4x4) against the same
discriminator at its initialisation, mean ± std over the members.

  python scripts/representation_probe.py runs/dcgan_sweep/seed=0 runs/dcgan_sweep/seed=1 ...

Prints one JSON line per member and setting, then the summary line.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from jaxgan import evaluate  # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("workdirs", nargs="+", help="runs of a DCGAN config")
  parser.add_argument("--num_train", type=int, default=10_000,
                      help="labelled training images for the classifier")
  args = parser.parse_args()
  accuracy = {"trained": [], "initial": []}
  for workdir in args.workdirs:
    for setting in accuracy:
      result = evaluate.discriminator_linear_probe(
          workdir, initial=setting == "initial", num_train=args.num_train)
      accuracy[setting].append(result["accuracy"])
      print(json.dumps({"workdir": workdir, "setting": setting, **result}), flush=True)
  print(json.dumps({
      setting: f"{100 * np.mean(v):.2f} ± {100 * np.std(v, ddof=1) if len(v) > 1 else 0:.2f} %"
      for setting, v in accuracy.items()} | {"members": len(args.workdirs)}))


if __name__ == "__main__":
  main()
