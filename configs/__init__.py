"""The experiments, one file each: `get_config()` returns its ConfigDict.

This folder is the package `jaxgan.configs` (pyproject.toml maps it there),
so the configs ship in the wheel: `jaxgan train --config=dcgan` finds
`dcgan.py` here from any directory, and `python launch.py
--config=configs/dcgan.py` reads the same file in the repository. Configs
import each other as `jaxgan.configs.<name>`, which a config file of your own
may do too (`from jaxgan.configs import common`).
"""
