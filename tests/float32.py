"""Tolerances from float32 arithmetic, for comparing two computations of
the same quantity (ours against a formula, NumPy, PyTorch, or float64).

float32 rounds every operation to a relative error of at most U = 2**-24
(about 6e-8). A sum of n terms, in any order (XLA, Eigen, oneDNN and NumPy
each pick their own: blocked, pairwise, vectorised), is within

    gamma(n) * sum(|term|),   gamma(n) = n U / (1 - n U)

of the exact sum (Higham, Accuracy and Stability of Numerical Algorithms,
2nd ed. 2002, section 3.1, eq. 3.5); a dot product's products add one more
rounding each (gamma(n + 1)). Two float32 computations of the same sum are
each within that bound of the exact value, so they differ by at most twice
it. The bound holds on every CPU, whatever its vector width or the library's
summation order, which is why tests derive their tolerances from it rather
than from the differences one machine shows (typically ~sqrt(n) U, far
below it).

Through a network the errors of a layer are carried to the next by its
weights, so a stack of L layers is bounded by the sum of each layer's bound
times the magnitude of what follows; `network_bound` takes the simple form
used here: L layers of fan-in at most n, activations of magnitude at most
`magnitude` (a sum of absolute terms, |w| |x|), Lipschitz-1 nonlinearities.
"""

U = 2.0 ** -24


def gamma(n: int) -> float:
  """Higham's gamma_n: the relative error bound of an n-term float32 sum."""
  return n * U / (1 - n * U)


def sum_bound(n: int, magnitude: float = 1.0) -> float:
  """Largest difference between two float32 evaluations of a dot product of
  n terms whose absolute products sum to at most `magnitude`."""
  return 2 * gamma(n + 1) * magnitude


def network_bound(layers: int, fan_in: int, magnitude: float = 1.0) -> float:
  """Largest difference between two float32 evaluations of `layers` layers
  of dot products of at most `fan_in` terms, each layer's absolute sums at
  most `magnitude` (errors carried forward by weights of norm <= 1)."""
  return layers * sum_bound(fan_in, magnitude)
