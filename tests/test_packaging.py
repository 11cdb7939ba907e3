"""jaxgan as an installed package: the wheel (configs and digits inside, the
`jaxgan` command), its declared dependencies, and the tested versions."""

import ast
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import numpy as np
import pytest
from test_launch import TINY

from conftest import REPO, one_device_env

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# Optional imports (inside functions) and the extra that brings each.
OPTIONAL_IMPORTS = {"tensorflow_datasets": "tfds", "array_record": "stream"}


def _name(requirement: str) -> str:
  """'etils[epath]>=1.15' -> 'etils' (normalised as pip does)."""
  return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)).lower()


def _bound(requirement: str) -> tuple[int, ...] | None:
  found = re.search(r">=\s*([0-9.]+)", requirement)
  return tuple(int(p) for p in found.group(1).split(".")) if found else None


def _version(text: str) -> tuple[int, ...]:
  return tuple(int(p) for p in re.match(r"[0-9.]+", text).group(0).rstrip(".").split("."))


def _env(**extra):
  """This environment with one device (faster), conftest's XLA flags else,
  and no PYTHONPATH."""
  env = {k: v for k, v in one_device_env().items() if k != "PYTHONPATH"}
  return {**env, **extra}


def _imports(path) -> list[tuple[str, bool]]:
  """(top-level module, at module level?) of every import in a file."""
  tree = ast.parse(path.read_text())
  top = {id(n) for n in ast.walk(ast.Module(body=[
      s for s in tree.body if not isinstance(s, (ast.FunctionDef, ast.ClassDef))],
      type_ignores=[])) if not isinstance(n, (ast.FunctionDef, ast.ClassDef))}
  found = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      found += [(a.name.split(".")[0], id(node) in top) for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0:
      found.append((node.module.split(".")[0], id(node) in top))
  return found


def test_every_module_jaxgan_imports_is_a_declared_dependency():
  core = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
  extras = {k: {_name(r) for r in v}
            for k, v in PYPROJECT["project"]["optional-dependencies"].items()}
  distributions = importlib.metadata.packages_distributions()
  files = [*(REPO / "jaxgan").rglob("*.py"), *(REPO / "configs").glob("*.py"),
           REPO / "launch.py"]
  undeclared = []
  for path in files:
    for module, module_level in _imports(path):
      if module in sys.stdlib_module_names or module in ("jaxgan", "__future__"):
        continue
      names = {_name(d) for d in distributions.get(module, [module])}
      allowed = core if module_level else core | extras.get(
          OPTIONAL_IMPORTS.get(module, ""), set())
      if not names & allowed:
        undeclared.append(f"{path.relative_to(REPO)}: {module} ({sorted(names)})")
  assert not undeclared, "\n".join(undeclared)
  assert not core & {"scikit-learn", "tensorflow-datasets"}  # extras, not core


def test_the_import_check_sees_undeclared_and_optional_imports(tmp_path):
  path = tmp_path / "m.py"
  path.write_text("import numpy\nfrom PIL import Image\n\n\ndef f():\n"
                  "  import tensorflow_datasets\n")
  assert _imports(path) == [("numpy", True), ("PIL", True),
                            ("tensorflow_datasets", False)]


def test_constraints_pin_every_declared_dependency_at_its_lower_bound_or_above():
  pins = {}
  for line in (REPO / "constraints.txt").read_text().splitlines():
    if line.strip() and not line.startswith("#"):
      name, version = line.split("==")
      pins[_name(name)] = _version(version)
  extras = PYPROJECT["project"]["optional-dependencies"]
  tested = [*PYPROJECT["project"]["dependencies"], *extras["test"], *extras["tfds"],
            *extras["stream"],
            *extras["tensorboard"]]
  for requirement in tested:
    name, bound = _name(requirement), _bound(requirement)
    assert bound is not None, f"{requirement}: no lower bound"
    assert name in pins, f"{name} is not pinned in constraints.txt"
    assert pins[name] >= bound, f"{name}: pinned {pins[name]} < bound {bound}"
  readme = (REPO / "README.md").read_text()
  commands = re.findall(r"^python3 -m venv .*$", readme, re.M)
  assert len(commands) == 2 and all("-c constraints.txt" in c for c in commands)


def test_the_shipped_digits_are_scikit_learns():
  from sklearn.datasets import load_digits

  from jaxgan.data import _digits
  digits = load_digits()
  with np.load(_digits.DIGITS_FILE) as shipped:
    np.testing.assert_array_equal(shipped["images"], digits.images)
    np.testing.assert_array_equal(shipped["labels"], digits.target)
    assert shipped["images"].dtype == np.uint8


def test_digits_load_and_losses_import_without_sklearn_or_tfds(tmp_path):
  for module in ("sklearn", "tensorflow_datasets"):  # imports of them fail
    (tmp_path / module).mkdir()
    (tmp_path / module / "__init__.py").write_text(f"raise ImportError('{module}')\n")
  code = ("import sys, jaxgan.losses; from jaxgan import data; "
          "d = data.load({'source': 'digits'}, image_size=8, channels=1); "
          "print(len(d), d.images.max(), 'sklearn' in sys.modules, "
          "'jaxgan.train' in sys.modules)")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(PYTHONPATH=str(tmp_path)), timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.split() == ["1797", "255", "False", "False"]


def _build_wheel(tmp_path) -> str:
  """The wheel of a copy of the sources (nothing is written in the repository)."""
  source = tmp_path / "src"
  source.mkdir()
  for name in ("pyproject.toml", "README.md"):
    shutil.copy(REPO / name, source / name)
  for name in ("jaxgan", "configs"):
    shutil.copytree(REPO / name, source / name,
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
  result = subprocess.run(
      [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
       "--no-index", "-q", "-w", str(tmp_path / "dist"), str(source)],
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
  (wheel,) = (tmp_path / "dist").glob("jaxgan-*.whl")
  return str(wheel)


def _check_wheel_contents(wheel: str) -> None:
  with zipfile.ZipFile(wheel) as archive:
    names = set(archive.namelist())
    metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    entry_points = archive.read(next(n for n in names
                                     if n.endswith("entry_points.txt"))).decode()
  modules = {str(p.relative_to(REPO)) for p in (REPO / "jaxgan").rglob("*.py")}
  assert modules <= names, sorted(modules - names)
  configs = {f"jaxgan/configs/{p.name}" for p in (REPO / "configs").glob("*.py")}
  assert configs <= names and "jaxgan/configs/dcgan.py" in names
  assert {"jaxgan/data/digits.npz",
          "jaxgan/evaluation/weights/classifier_mnist.msgpack"} <= names
  assert not any(n.startswith(("tests/", "configs/", "launch.py")) for n in names)
  assert "jaxgan = jaxgan.cli:main" in entry_points
  requires = re.findall(r"^Requires-Dist: (.*)$", metadata, re.M)
  core = [r for r in requires if "extra ==" not in r]
  assert not [r for r in core if _name(r) in ("scikit-learn", "tensorflow-datasets")]
  assert any(_name(r) == "tensorflow-datasets" and 'extra == "tfds"' in r
             for r in requires)


def test_the_wheel_installs_and_trains_and_generates_outside_the_repository(tmp_path):
  if importlib.util.find_spec("setuptools") is None:
    pytest.skip("setuptools (in jaxgan[test]) is needed to build the wheel offline.")
  wheel = _build_wheel(tmp_path)
  _check_wheel_contents(wheel)
  venv = tmp_path / "venv"
  subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
  python = venv / "bin" / "python"
  result = subprocess.run([sys.executable, "-m", "pip", "--python", str(python),
                           "install", "-q", "--no-deps", "--no-index", wheel],
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  # The dependencies come from this environment, on the path after the wheel's
  # own site-packages (a .pth line adds no .pth files: no editable jaxgan).
  site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig."
                         "get_paths()['purelib'])"], capture_output=True, text=True,
                        check=True).stdout.strip()
  paths = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
  with open(os.path.join(site, "_test_dependencies.pth"), "w") as f:
    f.write("\n".join(paths) + "\n")
  elsewhere = tmp_path / "elsewhere"
  elsewhere.mkdir()
  where = subprocess.run([str(python), "-c", "import jaxgan, jaxgan.configs.dcgan as d; "
                          "print(jaxgan.__file__); print(d.__file__)"], cwd=elsewhere,
                         capture_output=True, text=True, env=_env(), timeout=120)
  assert where.returncode == 0, where.stderr[-2000:]
  assert all(line.startswith(site) for line in where.stdout.split()), where.stdout
  command = str(venv / "bin" / "jaxgan")
  run = subprocess.run([command, "train", "--config=dcgan", "--config.train.num_steps=2",
                        "--workdir=w", *TINY], cwd=elsewhere, capture_output=True,
                       text=True, env=_env(), timeout=300)
  assert run.returncode == 0, run.stderr[-3000:]
  assert (elsewhere / "w" / "checkpoints" / "2").is_dir()
  generated = subprocess.run([command, "generate", "--workdir=w", "--num=5", "--output=g"],
                             cwd=elsewhere, capture_output=True, text=True, env=_env(),
                             timeout=300)
  assert generated.returncode == 0, generated.stderr[-3000:]
  assert len(os.listdir(elsewhere / "g")) == 5
  notebook = subprocess.run(
      [str(python), "-c", "import jax, jaxgan; c = jaxgan.load_config('dcgan'); "
       "G = jaxgan.load_generator('w'); print(c.model.name, G.step, "
       "G.sample(jax.random.PRNGKey(0), 3).shape)"],
      cwd=elsewhere, capture_output=True, text=True, env=_env(), timeout=300)
  assert notebook.returncode == 0, notebook.stderr[-3000:]
  assert notebook.stdout.split() == ["dcgan", "2", "(3,", "28,", "28,", "1)"]
  scored = subprocess.run([command, "evaluate", "--workdir=w", "--metrics=fid",
                           "--feature_net=classifier_mnist", "--num_samples=64",
                           "--num_reference=128", "--output=report.json"],
                          cwd=elsewhere, capture_output=True, text=True, env=_env(),
                          timeout=300)
  assert scored.returncode == 0, scored.stderr[-3000:]
  assert (elsewhere / "report.json").is_file() and '"fid"' in scored.stdout
