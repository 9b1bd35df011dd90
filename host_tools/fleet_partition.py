"""How `mcutrain fleet --partition` shares the train split among the devices (seeded):

    iid              shuffled, then dealt out in equal shares;
    dirichlet:ALPHA  per class, the class's samples split by proportions drawn from Dirichlet(ALPHA)
                     over the devices (small ALPHA: each device sees few classes; the usual
                     non-IID benchmark of federated learning);
    by-class         the classes dealt out round robin: device d holds classes d, d + N, ...
"""

from __future__ import annotations

import numpy as np

from host_tools.errors import McutrainError

SCHEMES = "iid|dirichlet:ALPHA|by-class"


def parse_partition(text: str) -> tuple[str, float | None]:
    """('iid' | 'dirichlet' | 'by-class', alpha), or a one-line error naming --partition."""
    if text in ("iid", "by-class"):
        return text, None
    name, _, alpha = text.partition(":")
    if name == "dirichlet":
        try:
            value = float(alpha)
        except ValueError:
            value = 0.0
        if value > 0:
            return name, value
        raise McutrainError(f"--partition {text}: dirichlet needs a positive concentration, e.g. dirichlet:0.5")
    raise McutrainError(f"--partition {text}: expected {SCHEMES}")


def partition(labels: np.ndarray, devices: int, scheme: str, alpha: float | None, seed: int) -> list[np.ndarray]:
    """Sample indices per device (each sorted); every device gets at least one sample."""
    rng = np.random.default_rng(seed)
    if scheme == "iid":
        shares = np.array_split(rng.permutation(len(labels)), devices)
    elif scheme == "by-class":
        classes = np.unique(labels)
        shares = [np.flatnonzero(np.isin(labels, classes[d::devices])) for d in range(devices)]
    else:
        shares = [[] for _ in range(devices)]
        for c in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == c))
            cuts = (np.cumsum(rng.dirichlet([alpha] * devices))[:-1] * len(members)).astype(int)
            for d, part in enumerate(np.split(members, cuts)):
                shares[d].extend(part.tolist())
    shares = [np.sort(np.asarray(s, dtype=np.int64)) for s in shares]
    empty = [d for d, s in enumerate(shares) if len(s) == 0]
    if empty:
        raise McutrainError(f"--partition {scheme}{f':{alpha:g}' if alpha else ''}: device {empty[0]} gets no "
                            f"samples of {len(labels)} ({devices} devices); give more samples (--limit) or fewer "
                            "devices")
    return shares
