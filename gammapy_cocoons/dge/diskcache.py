"""The built-in DGE cubes on disk, and the memory guard of their build.

:func:`~.conventional.conventional_dge` and :func:`~.pi0.fermi_pi0_dge` take seconds to build
(the gas geometry, the five knee variants, the transmission) and give the same cube every time:
each cube is stored through :func:`gammapy_cocoons._cache.cached_arrays` (the user's cache
directory, ``$GAMMAPY_COCOONS_CACHE``; atomic, checksummed, a corrupt entry rebuilt) and read back
in a fraction of a second by any later process. An entry's key holds every input of the cube:

* the function's arguments (variant, secondary, nside, components, absorption) and the energies;
* every constructor default of the embedded model (:func:`default_inputs`: helium fraction,
  absorption, per_decade, the gas model, the CR sea and its Galactic transport, the HI, CO and
  dust maps chosen, heavier nuclei, the electron sea and its magnetic field);
* the SHA-256 of every bundled data file and the versions of the libraries the numbers come
  from (numpy, scipy, healpy, astropy, gammapy, aafragpy);
* (added by the cache itself) the package version and a hash of its source code.

A cube that would not fit in this machine's memory is refused before any work
(:func:`check_memory`), with the estimate in the message.
"""
import dataclasses
import hashlib
import os
from functools import lru_cache
from importlib import resources

import numpy as np

from .._cache import cached_arrays

__all__ = ["describe", "data_fingerprint", "library_versions", "default_inputs", "cube_key", "cached_cube",
           "build_memory_gb", "available_memory_gb", "check_memory"]

# the libraries whose numbers end up in a cube
_LIBRARIES = ("numpy", "scipy", "healpy", "astropy", "gammapy", "aafragpy")


def describe(value):
    """``value`` as JSON-able data for a cache key: dataclasses by their init fields (type named),
    numpy arrays by a hash of their bytes, tuples as lists; anything else is refused (a key that
    silently ignored an input would return a wrong cube)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return {"array": hashlib.sha256(data.tobytes()).hexdigest(), "dtype": str(data.dtype), "shape": list(data.shape)}
    if isinstance(value, (tuple, list)):
        return [describe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {"type": f"{type(value).__module__}.{type(value).__qualname__}"}
        for f in dataclasses.fields(value):
            if f.init:
                out[f.name] = describe(getattr(value, f.name))
        return out
    raise TypeError(f"cannot describe {type(value).__name__} {value!r} for a cache key")


@lru_cache(maxsize=1)
def data_fingerprint():
    """SHA-256 of every bundled data file, {relative path: digest} (read once per process, ~10 ms)."""
    root = resources.files("gammapy_cocoons").joinpath("data")
    out = {}
    with resources.as_file(root) as directory:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and path.suffix != ".md":
                out[str(path.relative_to(directory))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@lru_cache(maxsize=1)
def library_versions():
    """{library: version} of the libraries whose numbers a cube holds."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _signature_defaults(function):
    import inspect

    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


@lru_cache(maxsize=1)
def default_inputs():
    """Every input of the default embedded model (:func:`~.conventional.default_model`), described
    without building it: the constructor defaults of ConventionalDGE with the default gas model, CR
    sea (its transport, source profile, nodes) and electron sea (magnetic field, grids) filled in."""
    from .conventional import ConventionalDGE
    from .crsea import CosmicRaySea
    from .electrons import ElectronSea
    from .gas import GasModel

    inputs = _signature_defaults(ConventionalDGE.__init__)
    if inputs.get("gas") is None:
        inputs["gas"] = GasModel()
    if inputs.get("sea") is None:
        inputs["sea"] = {"type": "CosmicRaySea", **_signature_defaults(CosmicRaySea)}
    if inputs.get("electron_sea") is None:
        electrons = _signature_defaults(ElectronSea)
        electrons.update(sea="the CR sea above", gas="the gas above")
        inputs["electron_sea"] = {"type": "ElectronSea", **electrons}
    return describe(inputs)


def cube_key(function, energies, **arguments):
    """The cache key of a built-in DGE cube: ``function`` ("conventional_dge" or "fermi_pi0_dge"), its
    arguments, the energies [GeV], the embedded model's inputs, the data files and the libraries."""
    return {"function": function, "arguments": describe(arguments), "energies": describe(np.asarray(energies, float)),
            "model": default_inputs(), "data": data_fingerprint(), "libraries": library_versions()}


def cached_cube(kind, key, build):
    """The cube data (float32 array) of ``key``: from the disk cache, or ``build()`` (which returns
    the array) stored there. The array is read-only either way (cubes are shared)."""
    def arrays():
        data = np.ascontiguousarray(build(), dtype=np.float32)
        return {"data": data}

    data = cached_arrays(kind, key, arrays, names=("data",))["data"]
    data.flags.writeable = False
    return data


# -- the memory guard --------------------------------------------------------------------------------

#: peak memory of a conventional_dge("min") build [bytes per HEALPix pixel and energy], measured
#: (benchmarks/README.md: 0.49, 0.91, 2.58 GB at nside 128, 256, 512; 12.5 bytes per voxel above
#: 0.35 GB): the two float32 envelopes, the CR-weighted gas columns and the pixel directions
_BYTES_PER_VOXEL = 13.0
#: and its part that does not grow with the cube [GB]: the geometry, the survey maps, the libraries
_FIXED_GB = 0.4


def build_memory_gb(npix, n_energies):
    """Estimated peak memory [GB] of building one built-in DGE cube of ``npix`` pixels and ``n_energies``
    energies (the whole process: the fixed part plus the cube's working arrays)."""
    return _FIXED_GB + _BYTES_PER_VOXEL * float(npix) * float(n_energies) / 1e9


def available_memory_gb():
    """Memory this process may still use [GB]: MemAvailable of /proc/meminfo (Linux), else the
    physical memory; None if neither is known."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1e6
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(n_pixels, n_energies, what="the DGE cube", argument=None, available_gb=None):
    """Refuse (ValueError naming ``argument``, with the estimate) a DGE build of ``n_pixels`` pixels and
    ``n_energies`` energies that this machine cannot hold; returns the estimate [GB] otherwise.

    ``argument``: how the caller's user chose the size (default "nside N" for an all-sky HEALPix
    grid, else "geom"); ``available_gb`` overrides :func:`available_memory_gb` (tests)."""
    n_pixels = int(n_pixels)
    needed = build_memory_gb(n_pixels, n_energies)
    available = available_memory_gb() if available_gb is None else float(available_gb)
    if available is None or needed <= available:
        return needed
    nside = int(round(np.sqrt(n_pixels / 12.0)))
    if argument is None:
        argument = f"nside {nside}" if 12 * nside**2 == n_pixels else "geom"
    hint = "a smaller geom"
    if argument.startswith("nside"):
        largest = nside
        while largest > 8 and build_memory_gb(12 * largest**2, n_energies) > available:
            largest //= 2
        hint = f"nside <= {largest}"
    raise ValueError(f"{argument} needs about {needed:.1f} GB of memory to build {what} ({n_pixels} pixels x "
                     f"{n_energies} energies, estimated), more than the {available:.1f} GB available: use {hint}")
