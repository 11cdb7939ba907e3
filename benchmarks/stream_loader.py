r"""Measures data.source='arrayrecord' (jaxgan.data.prepare and the lazily read
images) on a generated folder of JPEGs, and prints JSON.

  python benchmarks/stream_loader.py [--dir=/tmp/jaxgan_stream_bench] \
      [--num=20000] [--size=64] [--batch_size=128]

Writes --num smooth-noise RGB JPEGs of --size x --size (quality 90) under
--dir/images (once: an existing folder of the right count is reused; never
commit it), then reports:

  conversion: `prepare` of the folder at --size (its JPEGs are kept verbatim)
    and at 3/4 of --size (every image decoded, resized and encoded again at
    quality 95), in seconds and images/s.
  loader: images/s of `images[batch_indices(n, batch_size, seed, step)]`,
    shuffled global batches read and decoded in the calling thread and the
    decode pool; the median (and min, max) over --windows windows of --steps
    batches. The same for the in-memory array, for scale.
  memory: the peak resident memory (VmHWM, i.e. ru_maxrss of a process not
    started by a larger one) of a fresh process that reads
    every image once in such batches, against one that holds the folder in
    memory (`load_folder`), and the in-memory size num x size^2 x 3.
"""

import concurrent.futures
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time

import numpy as np
from absl import app, flags
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from jaxgan import data as data_lib  # noqa: E402
from jaxgan.data import _folder, _stream  # noqa: E402

flags.DEFINE_string("dir", "/tmp/jaxgan_stream_bench", "Where the images and "
                    "conversions go (not in the repository).")
flags.DEFINE_integer("num", 20000, "Images in the folder.")
flags.DEFINE_integer("size", 64, "Their height and width.")
flags.DEFINE_integer("batch_size", 128, "Global batch size of the loader.")
flags.DEFINE_integer("windows", 7, "Timed windows of the loader.")
flags.DEFINE_integer("steps", 20, "Batches per window.")
flags.DEFINE_string("child", "", "Internal: 'stream' or 'memory', the process "
                    "whose peak memory is measured.")
FLAGS = flags.FLAGS


def _peak_rss_mb() -> float:
  """This process's peak resident memory: VmHWM where Linux has it (a child's
  ru_maxrss starts at its parent's peak, kept across fork and exec), else
  ru_maxrss."""
  try:
    with open("/proc/self/status") as f:
      return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
  except (OSError, StopIteration):
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _write_image(args) -> None:
  path, seed, size = args
  rng = np.random.default_rng(seed)
  small = rng.integers(0, 256, (6, 6, 3), np.uint8)
  image = Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)
  noise = rng.normal(0, 8, (size, size, 3))
  pixels = np.clip(np.asarray(image, np.float64) + noise, 0, 255).astype(np.uint8)
  Image.fromarray(pixels).save(path, "JPEG", quality=90)


def make_folder(path: str, num: int, size: int) -> str:
  """num smooth-noise JPEGs in path/<shard of 1000>/, reused if present."""
  if os.path.isdir(path) and len(_folder.list_images(path)) == num:
    return path
  shutil.rmtree(path, ignore_errors=True)
  jobs = []
  for i in range(num):
    shard = os.path.join(path, f"{i // 1000:03d}")
    os.makedirs(shard, exist_ok=True)
    jobs.append((os.path.join(shard, f"{i:06d}.jpg"), i, size))
  with concurrent.futures.ThreadPoolExecutor(8) as pool:
    list(pool.map(_write_image, jobs, chunksize=64))
  return path


def _convert(folder: str, output: str, size: int) -> dict:
  shutil.rmtree(output, ignore_errors=True)
  start = time.perf_counter()
  meta = data_lib.prepare(folder, output, image_size=size)
  seconds = time.perf_counter() - start
  mb = os.path.getsize(os.path.join(output, _stream.RECORDS)) / 1e6
  return {"image_size": size, "seconds": round(seconds, 2),
          "images_per_s": round(meta["count"] / seconds, 1),
          "verbatim_jpegs": meta["verbatim_jpegs"], "file_mb": round(mb, 1)}


def _loader_rate(images, batch_size: int, windows: int, steps: int) -> dict:
  n = len(images)
  images[data_lib.batch_indices(n, batch_size, 0, 0)]  # warm up the pool, caches
  rates = []
  for w in range(windows):
    start = time.perf_counter()
    for s in range(steps):
      batch = images[data_lib.batch_indices(n, batch_size, 0, 1 + w * steps + s)]
    rates.append(steps * batch_size / (time.perf_counter() - start))
  assert batch.shape == (batch_size, *images.shape[1:])
  return {"median_images_per_s": round(float(np.median(rates)), 1),
          "min": round(min(rates), 1), "max": round(max(rates), 1),
          "windows": windows, "batches_per_window": steps}


def _child(kind: str, path: str, size: int, batch_size: int) -> None:
  """Reads every image once (stream) or loads the folder (memory); prints the
  peak resident memory before and after."""
  before = _peak_rss_mb()
  if kind == "stream":
    images = _stream.load_arrayrecord(path, image_size=size, channels=3).images
    order = data_lib.batch_indices(len(images), len(images), 0, 0)  # one epoch
    checksum = 0
    for start in range(0, len(order), batch_size):
      checksum += int(images[order[start:start + batch_size]][:, 0, 0].sum())
  else:
    images = _folder.load_folder(path, image_size=size, channels=3).images
    checksum = int(images[:, 0, 0].sum())
  print(json.dumps({"peak_rss_mb_after_imports": round(before, 1),
                    "peak_rss_mb": round(_peak_rss_mb(), 1), "checksum": checksum}))


def _peak_of(kind: str, path: str) -> dict:
  result = subprocess.run(
      [sys.executable, __file__, f"--child={kind}", f"--dir={path}",
       f"--size={FLAGS.size}", f"--batch_size={FLAGS.batch_size}"],
      capture_output=True, text=True, check=True)
  return json.loads(result.stdout.strip().splitlines()[-1])


def _cpu() -> str:
  try:
    with open("/proc/cpuinfo") as f:
      return next(line.split(":", 1)[1].strip() for line in f
                  if line.startswith("model name"))
  except (OSError, StopIteration):
    return platform.processor()


def main(argv):
  del argv
  if FLAGS.child:
    _child(FLAGS.child, FLAGS.dir, FLAGS.size, FLAGS.batch_size)
    return
  folder = make_folder(os.path.join(FLAGS.dir, "images"), FLAGS.num, FLAGS.size)
  stored = os.path.join(FLAGS.dir, "converted")
  conversion = [_convert(folder, stored, FLAGS.size),
                _convert(folder, os.path.join(FLAGS.dir, "converted_smaller"),
                         FLAGS.size * 3 // 4)]
  stream_peak, memory_peak = _peak_of("stream", stored), _peak_of("memory", folder)
  images = _stream.load_arrayrecord(stored, image_size=FLAGS.size, channels=3).images
  streamed = _loader_rate(images, FLAGS.batch_size, FLAGS.windows, FLAGS.steps)
  in_memory = _loader_rate(images[:], FLAGS.batch_size, FLAGS.windows, FLAGS.steps)
  assert stream_peak["checksum"] == memory_peak["checksum"]  # the same pixels
  print(json.dumps({
      "machine": {"cpu": _cpu(), "cpus": os.cpu_count(),
                  "load_average_1min": round(os.getloadavg()[0], 2)},
      "num_images": FLAGS.num, "image_shape": list(images.shape[1:]),
      "batch_size": FLAGS.batch_size,
      "conversion": conversion,
      "loader": {"arrayrecord": streamed, "in_memory_numpy": in_memory},
      "memory": {"in_memory_dataset_mb": round(images.nbytes / 1e6, 1),
                 "streaming_process": stream_peak, "load_folder_process": memory_peak},
  }, indent=1))


if __name__ == "__main__":
  app.run(main)
