"""The reader of the bundled cosmic-ray tables in the KISS text format (numpy only: the DGE's local
spectra and electrons read them in processes that import nothing heavier, :func:`.dge.conventional.prefetch_state`)."""
from importlib import resources

import numpy as np

__all__ = ["read_kiss_table"]


def read_kiss_table(name):
    """A bundled KISS-format table: dict with x, y, error_lo, error_up (stat and sys in quadrature), meta."""
    text = resources.files("gammapy_cocoons").joinpath("data", "cosmic_rays", name).read_text()
    meta, rows = {}, []
    for line in text.splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            meta[key.strip()] = value.strip()
        elif line.strip():
            rows.append([float(v) for v in line.split()])
    data = np.array(rows)
    if data.ndim != 2 or data.shape[1] != 6:
        raise ValueError(f"{name}: expected 6 columns (x, y, stat_lo, stat_up, sys_lo, sys_up)")
    error_lo = np.hypot(data[:, 2], data[:, 4])
    error_up = np.hypot(data[:, 3], data[:, 5])
    return {"x": data[:, 0], "y": data[:, 1], "error_lo": error_lo, "error_up": error_up, "meta": meta}
