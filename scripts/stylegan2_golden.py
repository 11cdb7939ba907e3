r"""Makes tests/golden/stylegan2_reference.npz: a tiny StyleGAN2 G and D of the
reference code (NVlabs/stylegan2-ada-pytorch, training/networks.py) with
random weights, their inputs and outputs. tests/test_stylegan2.py loads the
weights into jaxgan's port (`load_generator`, `load_discriminator`, here so
that the mapping of names lives in one place) and checks the outputs.

  python scripts/stylegan2_golden.py --official=/path/to/stylegan2-ada-pytorch

Needs torch (any CPU build) and the reference's requirements (numpy,
requests); the loading functions need only numpy and jax.

The settings (`MODEL`): 16 px, 3 classes, z 6, w 4, 2 mapping layers,
channel_base 64 and channel_max 8 (8 maps at 4-8 px, 4 at 16), G 'skip', D
'resnet' with a label mapping of 2 layers, minibatch stddev with 2
channels over one group of the whole batch of 4 (the reference groups
examples i, i + N/G, ..., jaxgan consecutive ones; one group is both). Every parameter and buffer is drawn at random (biases,
noise strengths, w_avg too). G runs with noise_mode='const', its noise
maps set to jaxgan's (`stylegan2.const_noise`), and truncation 0.7.
"""

import argparse
import os
import sys

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden",
                   "stylegan2_reference.npz")
# config.model keys of jaxgan's model (tests/test_stylegan2.py `_tiny_model` adds the rest).
MODEL = dict(image_size=16, channels=3, latent_dim=6, w_dim=4, mapping_layers=2,
             channel_base=64, channel_max=8, num_classes=3, g_architecture="skip",
             d_architecture="resnet", mbstd_group=4, mbstd_channels=2, d_mapping_layers=2)
BATCH = 4


def _const_noise(seed: int, resolution: int) -> np.ndarray:
  """jaxgan.models.stylegan2.const_noise, repeated so this script needs no jax."""
  rng = np.random.default_rng(seed)
  return rng.standard_normal((resolution, resolution, 1)).astype(np.float32)


def make(official: str) -> dict:
  """The reference modules' weights ('G.<name>', 'D.<name>', torch layout),
  inputs and outputs."""
  import torch  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, official)
  from training import networks  # pylint: disable=g-import-not-at-top

  torch.manual_seed(0)
  m = MODEL
  g = networks.Generator(
      z_dim=m["latent_dim"], c_dim=m["num_classes"], w_dim=m["w_dim"],
      img_resolution=m["image_size"], img_channels=m["channels"],
      mapping_kwargs=dict(num_layers=m["mapping_layers"]),
      synthesis_kwargs=dict(channel_base=m["channel_base"], channel_max=m["channel_max"],
                            architecture=m["g_architecture"], conv_clamp=256))
  d = networks.Discriminator(
      c_dim=m["num_classes"], img_resolution=m["image_size"], img_channels=m["channels"],
      architecture=m["d_architecture"], channel_base=m["channel_base"],
      channel_max=m["channel_max"], conv_clamp=256,
      mapping_kwargs=dict(num_layers=m["d_mapping_layers"]),
      epilogue_kwargs=dict(mbstd_group_size=m["mbstd_group"],
                           mbstd_num_channels=m["mbstd_channels"]))
  g.eval()
  d.eval()
  with torch.no_grad():
    for module in (g, d):
      for name, p in module.named_parameters():
        if name.endswith("bias") or name.endswith("noise_strength"):
          p.copy_(0.3 * torch.randn_like(p) + (1.0 if ".affine." in name else 0.0))
    g.mapping.w_avg.copy_(torch.randn_like(g.mapping.w_avg))
    for name, buf in g.named_buffers():
      if name.endswith("noise_const"):
        block, layer = name.split(".")[1], name.split(".")[2]
        res = int(block[1:])
        seed = 2 * res + (1 if layer == "conv1" else 0)
        buf.copy_(torch.from_numpy(_const_noise(seed, res)[:, :, 0]))

    rng = np.random.default_rng(1)
    z = rng.standard_normal((BATCH, m["latent_dim"])).astype(np.float32)
    c = rng.integers(0, m["num_classes"], BATCH).astype(np.int32)
    c_onehot = torch.nn.functional.one_hot(torch.from_numpy(c).long(),
                                           m["num_classes"]).float()
    ws = g.mapping(torch.from_numpy(z), c_onehot)
    images = g(torch.from_numpy(z), c_onehot, truncation_psi=0.7, noise_mode="const")
    d_input = rng.standard_normal((BATCH, m["image_size"], m["image_size"],
                                   m["channels"])).astype(np.float32)
    logits = d(torch.from_numpy(d_input).permute(0, 3, 1, 2), c_onehot)

  out = {f"G.{k}": v.numpy() for k, v in g.state_dict().items()}
  out.update({f"D.{k}": v.numpy() for k, v in d.state_dict().items()})
  out.update(z=z, c=c, ws=ws.numpy(), images=images.permute(0, 2, 3, 1).numpy(),
             d_input=d_input, logits=logits[:, 0].numpy())
  return out


# -- Loading into jaxgan's modules -------------------------------------------------

def _leaf(name: str, value: np.ndarray, module: str) -> tuple[tuple, np.ndarray]:
  """A torch parameter's (flax path inside `module`'s params, value)."""
  parts = name.split(".")
  last = parts[-1]
  path = tuple(parts[:-1])
  if last == "weight":
    if value.ndim == 4:  # (out, in, k, k) -> (k, k, in, out)
      return path + ("kernel",), value.transpose(2, 3, 1, 0)
    return path + ("kernel",), value.T  # (out, in) -> (in, out)
  return path + (last,), value


def _set(tree: dict, path: tuple, value) -> None:
  for key in path[:-1]:
    tree = tree.setdefault(key, {})
  if path[-1] in tree and np.shape(tree[path[-1]]) != np.shape(value):
    raise ValueError(f"{'/'.join(path)}: shape {np.shape(value)} != {np.shape(tree[path[-1]])}")
  tree[path[-1]] = value


def _params_like(template: dict, loaded: dict) -> dict:
  """`loaded` checked against `template`'s tree (every leaf set, same shapes)."""
  import jax  # pylint: disable=g-import-not-at-top
  flat_t = jax.tree_util.tree_flatten_with_path(template)[0]
  flat_l = dict(jax.tree_util.tree_flatten_with_path(loaded)[0])
  if len(flat_t) != len(flat_l):
    raise ValueError(f"{len(flat_l)} reference parameters for {len(flat_t)} of the port")
  for path, leaf in flat_t:
    if path not in flat_l or np.shape(flat_l[path]) != np.shape(leaf):
      raise ValueError(f"no reference parameter of shape {np.shape(leaf)} for {path}")
  return loaded


def load_generator(generator, golden: dict) -> dict:
  """The port's G variables from the reference's G weights in `golden`."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  template = jax.eval_shape(lambda k: generator.init(
      k, jnp.zeros((2, MODEL["latent_dim"])), jnp.zeros((2,), jnp.int32), train=False),
      jax.random.PRNGKey(0))
  params = {}
  for key, value in golden.items():
    if not key.startswith("G.") or key.endswith(("noise_const", "w_avg", "resample_filter")):
      continue
    name = key[2:]
    if name.endswith(".const"):  # (C, 4, 4) -> (4, 4, C)
      _set(params, tuple(name.split(".")), value.transpose(1, 2, 0))
      continue
    _set(params, *_leaf(name, value, "G"))
  return {"params": _params_like(template["params"], params),
          "batch_stats": {"w_avg": golden["G.mapping.w_avg"]}}


def load_discriminator(discriminator, golden: dict) -> dict:
  """The port's D variables from the reference's D weights in `golden`."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  s = MODEL["image_size"]
  template = jax.eval_shape(lambda k: discriminator.init(
      k, jnp.zeros((2, s, s, MODEL["channels"])), jnp.zeros((2,), jnp.int32), train=False),
      jax.random.PRNGKey(0))
  params = {}
  for key, value in golden.items():
    if not key.startswith("D.") or key.endswith("resample_filter"):
      continue
    name = key[2:]
    if name.startswith("b4."):  # the epilogue: b4_conv, b4_fc, b4_out
      name = "b4_" + name[3:]
    if name == "b4_fc.weight":  # torch flattens (C, 4, 4), jaxgan (4, 4, C)
      out = value.shape[0]
      value = value.reshape(out, -1, 4, 4).transpose(0, 2, 3, 1).reshape(out, -1)
    _set(params, *_leaf(name, value, "D"))
  return {"params": _params_like(template["params"], params)}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--official", required=True,
                      help="a checkout of github.com/NVlabs/stylegan2-ada-pytorch")
  parser.add_argument("--out", default=OUT)
  args = parser.parse_args()
  golden = make(args.official)
  np.savez_compressed(args.out, **golden)
  print(f"wrote {args.out}: {len(golden)} arrays, "
        f"{os.path.getsize(args.out) / 1024:.0f} KiB")


if __name__ == "__main__":
  main()
