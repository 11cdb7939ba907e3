"""VGG19 features (Simonyan & Zisserman 2015, arXiv:1409.1556) in Flax, for
the VGG content loss of SRGAN (Ledig et al. 2017): the squared distance
between the features of G(x) and of the target, after a ReLU of the
pretrained network ('relu5_4' is the paper's VGG54, 'relu2_2' its VGG22).

No weights ship with jaxgan: pass the path of torchvision's VGG19 state dict
(`torch.save(torchvision.models.vgg19(weights='IMAGENET1K_V1').state_dict(),
'vgg19.pth')`, read without PyTorch) or of an .npz with the same keys
('features.0.weight' (64, 3, 3, 3), 'features.0.bias', ...).
"""

import os
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import weights

# Channels of the convolutions of each block; a 2x2 max-pool follows a block.
_BLOCKS = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512),
           (512, 512, 512, 512))
LAYERS = tuple(f"relu{b + 1}_{i + 1}" for b, widths in enumerate(_BLOCKS)
               for i in range(len(widths)))
# torchvision's vgg19().features indices of the convolutions, in order.
_TORCH_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)  # torchvision's ImageNet input
_STD = np.array([0.229, 0.224, 0.225], np.float32)


def _check_layer(layer: str) -> None:
  if layer not in LAYERS:
    raise ValueError(f"Unknown VGG19 layer {layer!r} (config.loss.vgg_layer); valid: "
                     f"{', '.join(LAYERS)}.")


class VGG19Features(nn.Module):
  """ImageNet-normalised RGB (B, H, W, 3) -> the activations after `layer`.

  Parameters are named `relu{block}_{i}` after the ReLU that follows them."""
  layer: str = "relu5_4"

  @nn.compact
  def __call__(self, x):
    _check_layer(self.layer)
    for b, widths in enumerate(_BLOCKS):
      if b > 0:
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
      for i, w in enumerate(widths):
        name = f"relu{b + 1}_{i + 1}"
        x = nn.relu(nn.Conv(w, (3, 3), padding=((1, 1), (1, 1)), name=name)(x))
        if name == self.layer:
          return x
    raise AssertionError(self.layer)


def load_params(path: str, layer: str = "relu5_4") -> dict:
  """VGG19Features parameters up to `layer` from a torchvision state dict
  (.pth/.pt) or an .npz with its keys."""
  _check_layer(layer)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"VGG19 weights not found: config.loss.vgg_weights={path!r}.")
  if path.endswith(".npz"):
    with np.load(path) as f:
      state = dict(f)
  else:
    state = weights.load(path)
  params = {}
  for name, index in zip(LAYERS, _TORCH_INDICES):
    weight_key, bias_key = f"features.{index}.weight", f"features.{index}.bias"
    if weight_key not in state or bias_key not in state:
      raise ValueError(f"{path} is not a torchvision VGG19 state dict: no {weight_key!r} "
                       f"and {bias_key!r} (for {name}).")
    weight = np.asarray(state[weight_key], np.float32)
    params[name] = {"kernel": jnp.asarray(weight.transpose(2, 3, 1, 0)),
                    "bias": jnp.asarray(np.asarray(state[bias_key], np.float32))}
    if name == layer:
      break
  expected = jax.eval_shape(VGG19Features(layer).init, jax.random.PRNGKey(0),
                            jnp.zeros((1, 32, 32, 3)))["params"]
  shapes = jax.tree.map(lambda a: a.shape, params)
  if shapes != jax.tree.map(lambda a: a.shape, expected):
    raise ValueError(f"{path}: VGG19 weights of unexpected shapes {shapes}.")
  return params


def feature_fn(path: str, layer: str = "relu5_4") -> Callable[[jax.Array], jax.Array]:
  """`f(images)`: VGG19 features after `layer` of images (B, H, W, C) in
  [-1, 1] (greyscale repeated to RGB), with the weights at `path`."""
  params = load_params(path, layer)
  module = VGG19Features(layer)

  def features(images):
    x = (images.astype(jnp.float32) + 1.0) / 2.0
    if x.shape[-1] == 1:
      x = jnp.repeat(x, 3, axis=-1)
    return module.apply({"params": params}, (x - _MEAN) / _STD)

  return features
