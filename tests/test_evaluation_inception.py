"""The FID Inception port: torch-free .pth reading, weights handling, and
agreement with pytorch-fid's own network (where torch and pytorch-fid exist)."""

import base64
import hashlib
import io
import os
import pickle
import urllib.error
import zlib

import float32
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import weights as torch_pickle
from jaxgan.evaluation import _inception

# torch.save(OrderedDict(
#     [('conv.weight', torch.arange(6.).reshape(1, 1, 2, 3)),
#      ('bn.running_var', torch.tensor([1., 2.], dtype=torch.float64)),
#      ('bn.num_batches_tracked', torch.tensor(7)),
#      ('half', torch.tensor([1.5], dtype=torch.float16)),
#      ('view', torch.arange(12.).reshape(3, 4).t()[1:])]), f,
#     _use_new_zipfile_serialization=...), zlib-compressed, base64.
_ZIP_PTH = (
    'eNqlVd1v21QUv4lTJ7gjaTdYuwJlfAxc6DLH+WrHaDdrspCMRBtAinixHMeNrbl2j3OT8iGk'
    'SKiT9gb/AELij4A3eOVxIE088DCJSdOeQOIf4F67TX1vaUq76xzHcfz7uPeec7xhCDmECgV0'
    'ZMyg88iKbNcbOte6FrbKO3d8XSuiT5gxytp26PuOjb0w6EsfRF0ncrq3PRtLgJZakJHb04TM'
    'DoNhedfxei6GrI1Dwls2B9jz+5IZOZ2B53dN7AT9MDKHqgSCLLfzBNYnT1o9B3IJRNL90MIf'
    'JjclmGpnyDMKiG2BSuwMIG+IGAqbBpKNDDmyhoDhGdkQySEYGQzSPZeamsZwrgXPtosE1gnK'
    '0SAIvKBnDq0Iii7Rdg/0boeDju+MBUuxYAVm3LyRxTBLhIzsHpw3MntwIaF+DsPzLbjYvphQ'
    'B4Nts2Nh23X6Jo4s+47ThTlG4v0w6I0F5mMBFS4RAWJ3gQgsLSXEL2B4sQUvtcluIdfyt2CR'
    'oXmP3BrTvBzTVOFyQvMK9UksvkpPryV0r2O40oI3Yrqh5+zCmwmdmyxqDWSCPYdhaZOso2AI'
    'd+EtcpG7C28n+GUMV1tQHpQ3jHzh0Y0ruUwWIRobxybUHLo+TqjyVhhtW9gcOlGfJI6uNbi8'
    '+r+jQvV/+OuPr6hrGsfrL6Dmof5+ZpmW7/WCbSfAulY9i4VGjRpY34UnZO4oO9HALFofG+h8'
    'hp2QFouuvXPGqcfD9zD2Heph790/L4lERZzooYjWmKq+puja9acwkLCO1snpJvmQGJH47iZ1'
    'NPf142/myR/zJzhaZh1VdE1Gp9P/e32fLNY1733/xUzcwSbr1lhdVdeUU69Efp+N6u48eBxS'
    'ocIJujdY3aqurZx5B9AaVf6o9OPo5PwrIo1Vruna2tMk34T9R+hnEg9JoFtkJ0hcJqHcom4/'
    '/XJrTaGde6LbErowdjtuEyXeblWijPe/7X188vwXkXrYAOIF6DuRRzrA5xZ9e5leV9fKp1wP'
    'RanXK6tKZaVeVZVqfVVprjTJPbVRr9Sb9dVGo6ZWalV1lbr8/Z9ffpOJDzl2SZvloc90C505'
    '4px/D/PodAOcY5CbWXRc0+VJ0k1sgSG5nyY50jl5nnQjmmV4WgI62gB5eLprFBn4AwFxvYvH'
    'piufxbo5DlvhsenqZbEPeazKY9P1x2LbUxy2ymPT1cBif+WxNR6bzvsSgx2JiK8eHpxOx0VW'
    'OAX+70LZMERx+aCshKtj5DT3/VN2f5L5gzYpxldNKfmdvLGnxAQzHT+fPPsvpt9OHQ==')
_LEGACY_PTH = (
    'eNqFkklv00AUx70lATctYSuUNewOi5U6W3OBVqqqSsNWc/EFWY49xAYzzrPHqUCqlEsr4DNw'
    '4MjH4KNw5cYViQPPcRIRFAmP39h+fvP//f08I+mTGv7+vPOr+vrr8zV9JD35IeN8AIJmVQRB'
    'GMQRj9wotIc0ToKIgYgF1jK+CQPOQ2pT5gUOA+mDpWKSvxtQOwne0wTkA1A0q4DJxI9iDgUi'
    'WTI+BYxDkSiWkmlErA8loqQpMl3EhNTlSEnUZ7FHY+ptBy5XQaiZIGrWEq5wIzbU92nQ9zlI'
    'Lo9i19ftlAdhotox7aVB6NmcsiSK7aGhgqxpVimzgJVOn4KSL1F3wsjhL/KkCgVrBWu6ze56'
    'o95pNY1mp9GG4titO0jRYPEph2N7RNCIiEMiMofjGinikInIQf3oZxaXOJRNWB6L9Zgep4wF'
    'rG8PnRhWfHTiT+nbUdoL6Qx/YoY3uu16faPV7BhQ8UtEQuxJxBLpEE4R8RBO56AzHM6asGqt'
    '5iCWvrV7Dnd9mtg8dtw31INzc8DH2OcZ7vwczmi36ohbQ5yIuAuIq9VyzEUOl0y4PP5TvhO+'
    'gitzoruYmolenRNdb2x0WgZUJ6LXsm9A+9ez6UYufpPDLRNuj8WHAd2HO7m4X/hHqdvoGqCh'
    'UhmVanvYf5nIR3AXb5QjuJer3efwwAQ920Yvs627oKHiIofSIpi8qEHKoj1SoLok/H38fDS5'
    '2RSnqYfluYpRVrGJJ8YI4wvGN4zvGMKWIFQwqhj1ralCaXIt/kfnDyEx6J8=')


def _fixture(b64: str, tmp_path, name: str) -> str:
  path = os.path.join(tmp_path, name)
  with open(path, 'wb') as f:
    f.write(zlib.decompress(base64.b64decode(b64)))
  return path


@pytest.mark.parametrize('blob', [_ZIP_PTH, _LEGACY_PTH], ids=['zip', 'legacy'])
def test_torch_free_reader_reads_both_formats(blob, tmp_path):
  state = torch_pickle.load(_fixture(blob, tmp_path, 'x.pth'))
  assert list(state) == ['conv.weight', 'bn.running_var', 'bn.num_batches_tracked',
                         'half', 'view']
  np.testing.assert_array_equal(state['conv.weight'],
                                np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3))
  assert state['conv.weight'].dtype == np.float32
  assert state['bn.running_var'].dtype == np.float64
  np.testing.assert_array_equal(state['bn.running_var'], [1.0, 2.0])
  assert state['bn.num_batches_tracked'].dtype == np.int64
  assert state['bn.num_batches_tracked'].shape == () and state['bn.num_batches_tracked'] == 7
  assert state['half'].dtype == np.float16 and state['half'][0] == 1.5
  # A strided view with an offset into a shared storage.
  np.testing.assert_array_equal(
      state['view'], np.arange(12, dtype=np.float32).reshape(3, 4).T[1:])


def test_torch_free_reader_runs_no_code_from_the_file(tmp_path):
  class Evil:
    def __reduce__(self):
      return (os.system, ('touch ' + os.path.join(tmp_path, 'pwned'),))

  path = os.path.join(tmp_path, 'evil.pth')
  with open(path, 'wb') as f:
    for header in (torch_pickle._LEGACY_MAGIC, torch_pickle._LEGACY_PROTOCOL,
                   {'little_endian': True}):
      pickle.dump(header, f)
    pickle.dump({'w': Evil()}, f)
  with pytest.raises(torch_pickle.TorchFileError, match='Refusing'):
    torch_pickle.load(path)
  assert not os.path.exists(os.path.join(tmp_path, 'pwned'))
  with open(path, 'wb') as f:
    f.write(b'not a checkpoint')
  with pytest.raises(torch_pickle.TorchFileError):
    torch_pickle.load(path)


def test_fid_inception_has_pytorch_fid_parameter_count():
  variables = jax.eval_shape(lambda: _inception.FIDInceptionV3().init(
      jax.random.PRNGKey(0), jnp.zeros((1, 299, 299, 3))))
  count = lambda tree: sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))
  # pytorch-fid's fid_inception_v3(): parameters and BatchNorm running stats.
  assert count(variables['params']) == 23_850_960
  assert count(variables['batch_stats']) == 34_432
  out = jax.eval_shape(lambda v, x: _inception.FIDInceptionV3().apply(v, x),
                       variables, jnp.zeros((3, 64, 80, 3)))
  assert {k: v.shape for k, v in out.items()} == {
      'pool': (3, 2048), 'logits': (3, 1008), 'logits_unbiased': (3, 1008)}


def test_params_from_torch_reports_missing_and_misshapen_weights():
  with pytest.raises(KeyError, match='Conv2d_1a_3x3'):
    _inception.params_from_torch({})


def test_resize_bilinear_matches_half_pixel_formula():
  # Upsampling 2 -> 4 with align_corners=False: sources -0.25 (clamped to 0),
  # 0.25, 0.75, 1.25 (right neighbour clamped). Weights 1/4, 3/4, 1/2 on small
  # integers: every float32 product and sum is exact (default rtol=1e-7).
  x = jnp.array([0.0, 4.0]).reshape(1, 1, 2, 1)
  x = jnp.broadcast_to(x, (1, 2, 2, 1))
  out = _inception.resize_bilinear(x, 4)
  np.testing.assert_allclose(out[0, 0, :, 0], [0.0, 1.0, 3.0, 4.0])
  # Shrinking 4 -> 2 without antialiasing: sources 0.5 and 2.5.
  y = jnp.arange(4.0).reshape(1, 1, 4, 1)
  y = jnp.broadcast_to(y, (1, 4, 4, 1))
  np.testing.assert_allclose(_inception.resize_bilinear(y, 2)[0, 0, :, 0], [0.5, 2.5])


# ------------------------------------------------------------- the weights


def test_weights_without_network_say_where_to_put_the_file(tmp_path, monkeypatch):
  calls = []

  def offline(url, timeout):
    calls.append(timeout)
    raise urllib.error.URLError('no network')

  monkeypatch.setattr(_inception.urllib.request, 'urlopen', offline)
  with pytest.raises(FileNotFoundError) as error:
    _inception.weights_path(directory=str(tmp_path))
  message = str(error.value)
  assert os.path.join(str(tmp_path), _inception.WEIGHTS_FILE) in message
  assert _inception.WEIGHTS_URL in message
  assert len(calls) == 1 and calls[0] <= 30  # one short attempt
  with pytest.raises(FileNotFoundError, match='downloads are off'):
    _inception.weights_path(directory=str(tmp_path), download=False)


def test_weights_download_is_verified_and_cached(tmp_path, monkeypatch):
  payload = b'pretend weights'
  calls = []

  def serve(url, timeout):
    calls.append(url)
    return io.BytesIO(payload)

  monkeypatch.setattr(_inception.urllib.request, 'urlopen', serve)
  with pytest.raises(ValueError, match='not kept'):
    _inception.weights_path(directory=str(tmp_path), sha256='0' * 64)
  assert os.listdir(tmp_path) == []
  digest = hashlib.sha256(payload).hexdigest()
  path = _inception.weights_path(directory=str(tmp_path), sha256=digest)
  with open(path, 'rb') as f:
    assert f.read() == payload
  assert _inception.weights_path(directory=str(tmp_path), sha256=digest) == path
  assert len(calls) == 2  # the second call found the file
  with pytest.raises(ValueError, match='Delete it'):
    _inception.weights_path(directory=str(tmp_path))  # the real hash differs


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
  monkeypatch.setenv(_inception.CACHE_ENV, str(tmp_path))
  assert _inception.cache_dir() == str(tmp_path)
  monkeypatch.delenv(_inception.CACHE_ENV)
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
  assert _inception.cache_dir() == str(tmp_path / 'xdg' / 'jaxgan')


# ------------------------------------------------- agreement with pytorch-fid


def _random_pytorch_fid_state_dict(torch, pfi, seed):
  """fid_inception_v3()'s architecture, built from pytorch-fid's own blocks,
  with random weights and BatchNorm statistics (He-scaled so activations stay
  of order one through all 94 convolutions)."""
  torch.manual_seed(seed)
  net = pfi._inception_v3(num_classes=1008, aux_logits=False, weights=None)
  net.Mixed_5b = pfi.FIDInceptionA(192, pool_features=32)
  net.Mixed_5c = pfi.FIDInceptionA(256, pool_features=64)
  net.Mixed_5d = pfi.FIDInceptionA(288, pool_features=64)
  net.Mixed_6b = pfi.FIDInceptionC(768, channels_7x7=128)
  net.Mixed_6c = pfi.FIDInceptionC(768, channels_7x7=160)
  net.Mixed_6d = pfi.FIDInceptionC(768, channels_7x7=160)
  net.Mixed_6e = pfi.FIDInceptionC(768, channels_7x7=192)
  net.Mixed_7b = pfi.FIDInceptionE_1(1280)
  net.Mixed_7c = pfi.FIDInceptionE_2(2048)
  state = net.state_dict()
  gen = torch.Generator().manual_seed(seed)
  for name, value in state.items():
    if not value.is_floating_point():
      continue
    if value.ndim == 4:
      value.copy_(torch.randn(value.shape, generator=gen) * (2 / value[0].numel()) ** 0.5)
    elif name.endswith(('running_var', 'bn.weight')):
      value.copy_(torch.rand(value.shape, generator=gen) + 0.5)
    elif name.endswith(('running_mean', 'bn.bias')):
      value.copy_(torch.randn(value.shape, generator=gen) * 0.1)
    else:  # fc
      value.copy_(torch.randn(value.shape, generator=gen) * 0.02)
  return state


def test_pool_features_agree_with_pytorch_fid(tmp_path, monkeypatch):
  torch = pytest.importorskip(
      'torch', reason='the agreement test needs PyTorch: pip install -e .[fid-test]')
  pfi = pytest.importorskip(
      'pytorch_fid.inception',
      reason='the agreement test needs pytorch-fid (and torchvision): pip install '
             '-e .[fid-test]')
  # pytorch-fid loads its weights through torch.hub, which takes a file already
  # in $TORCH_HOME/hub/checkpoints: the random weights go there, so pytorch-fid
  # builds its own InceptionV3 from them without any network access.
  monkeypatch.setenv('TORCH_HOME', str(tmp_path))
  checkpoints = tmp_path / 'hub' / 'checkpoints'
  checkpoints.mkdir(parents=True)
  path = str(checkpoints / _inception.WEIGHTS_FILE)
  state = _random_pytorch_fid_state_dict(torch, pfi, seed=0)
  torch.save(state, path)
  reference = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()

  # Two images that are shrunk in height and enlarged in width on the way to
  # 299x299, as uint8 pixels (pytorch-fid reads PNGs as x / 255).
  images = np.random.default_rng(0).integers(0, 256, (2, 320, 200, 3), np.uint8)
  with torch.no_grad():
    expected = reference(torch.from_numpy(images.transpose(0, 3, 1, 2) / 255.0)
                         .float())[0][:, :, 0, 0].numpy()

  from jaxgan.evaluation import _features
  net = _features.inception(path)
  out = jax.jit(net.apply)(net.variables, jnp.asarray(images))
  features = np.asarray(out['features'])
  assert features.shape == (2, 2048)
  assert np.abs(expected).mean() > 0.1  # the random network is not degenerate
  # Not the worst case: Higham's n U bound, over the 47 convolutions in a row
  # with fan-ins up to n = 4,032 (3x3x448), exceeds 1. The rounding errors of a
  # sum of n terms of random sign (random weights) are independent, zero-mean
  # and add up to sqrt(n / 2) U = 2.7e-6 of it (rms, any summation order);
  # through 47 He-scaled layers, which keep the norm, errors add in
  # quadrature: sqrt(47) 2.7e-6 = 1.8e-5, 2.6e-5 between two evaluations, plus
  # the resize and pools (terms <= 64, less). 1e-4 is 4 times that (1.2e-6
  # seen on one machine); a wrong layer, padding or pooling is O(1), and even
  # BatchNorm's eps 1e-5 for 1e-3 moves each layer by ~5e-4.
  error = np.linalg.norm(features - expected) / np.linalg.norm(expected)
  assert error <= 1e-4, f'relative error {error:.2e}'
  # IS logits: our pool features times the fc weights, without the bias: each
  # a 2,048-term float32 dot product (float32.sum_bound, magnitude sum |f| |w|,
  # ~4e-3 here), against float64. The fc bias, N(0, 0.02^2), exceeds that for
  # most logits, so a product that added it fails.
  fc = state['fc.weight'].numpy().astype(np.float64)
  atol = float32.sum_bound(2048, np.abs(features) @ np.abs(fc).T)
  np.testing.assert_array_less(np.abs(out['logits'] - features @ fc.T), atol)
  assert net.weights_sha256 == hashlib.sha256(open(path, 'rb').read()).hexdigest()
