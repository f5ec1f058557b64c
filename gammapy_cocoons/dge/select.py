"""One way to choose the DGE baseline everywhere a DGE is used (fit, spectrum, reproduce).

A baseline is a pair of SkyModels, (min, max): the band the figures draw, and its "min" member
for fits. It is one of

* ``"embedded"``: the embedded conventional model, base min / max = the voxel-wise envelope of
  its knee variants (:func:`~.conventional.conventional_dge`);
* ``"fermi-pi0"``: the data-driven Fermi-LAT pi0 template with the embedded emissivity
  (:func:`~.pi0.fermi_pi0_dge`);
* one or two files (HERMES or any gammapy map cube, :func:`~.readers.read_dge`): one file gives
  min = max; two give the band, e.g. the De la Torre Luque et al. (2023, A&A 672, A58) base min
  and max maps (Zenodo record 12802088).
"""
from dataclasses import dataclass
from pathlib import Path

from .conventional import conventional_dge
from .pi0 import fermi_pi0_dge
from .readers import read_dge

__all__ = ["DGEBaseline", "dge_baseline", "dge_model", "describe_baseline", "BASELINES"]

#: the built-in baselines
BASELINES = ("embedded", "fermi-pi0")
_LABELS = {
    "embedded": "embedded conventional DGE (HI4PI + CO-survey + dark gas x CR sea of the B/C transport, AAfrag, "
                "ISRF + CMB absorption), base min/max = the envelope of the knee variants",
    "fermi-pi0": "Fermi-LAT pi0 template (IceCube 2023) x the embedded hadronic spectrum, normalised at 3-10 GeV, "
                 "base min/max = the envelope of the knee variants",
}
_MEMBERS = ("min", "max")


@dataclass(frozen=True)
class DGEBaseline:
    """A DGE band: ``min`` and ``max`` SkyModels and a one-line ``label`` for figures and tables."""

    min: object
    max: object
    label: str
    files: tuple = ()

    @property
    def is_band(self):
        return self.min is not self.max


def _files(dge, secondary):
    """The validated list of user files of ``dge`` (None for a built-in baseline)."""
    if isinstance(dge, str) and dge in BASELINES:
        return None
    paths = [dge] if isinstance(dge, (str, Path)) else list(dge) if isinstance(dge, (list, tuple)) else None
    if paths is None or not 1 <= len(paths) <= 2 or not all(isinstance(p, (str, Path)) for p in paths):
        raise ValueError(f"dge must be one of {list(BASELINES)}, a file path or a pair of paths (min, max), got {dge!r}")
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise ValueError(f"dge must be one of {list(BASELINES)} or existing DGE files; not found: {', '.join(missing)}")
    if secondary != "gamma":
        raise ValueError(f"secondary must be 'gamma' for a DGE read from a file (a gamma-ray cube), got {secondary!r}")
    return paths


def describe_baseline(dge="embedded"):
    """The one-line label of the baseline ``dge`` (checks it, builds nothing)."""
    paths = _files(dge, "gamma")
    if paths is None:
        return _LABELS[dge]
    return f"user DGE file{'s' if len(paths) > 1 else ''} {' / '.join(Path(p).name for p in paths)}"


def dge_model(dge="embedded", member="min", secondary="gamma"):
    """One member ("min" or "max") of the baseline ``dge`` as a SkyModel (only that one is built)."""
    if member not in _MEMBERS:
        raise ValueError(f"member must be 'min' or 'max' (of the DGE band), got {member!r}")
    paths = _files(dge, secondary)
    if paths is None:
        build = conventional_dge if dge == "embedded" else fermi_pi0_dge
        return build(member, secondary)
    return read_dge(paths[0] if member == "min" else paths[-1])


def dge_baseline(dge="embedded", secondary="gamma"):
    """The DGE baseline ``dge``: "embedded", "fermi-pi0", or a path or a (min, max) pair of paths.

    User files hold gamma rays only: ``secondary`` other than "gamma" is refused for them.
    """
    paths = _files(dge, secondary)
    if paths is not None and len(paths) == 1:
        model = read_dge(paths[0])
        return DGEBaseline(model, model, describe_baseline(dge), (str(paths[0]),))
    return DGEBaseline(dge_model(dge, "min", secondary), dge_model(dge, "max", secondary), describe_baseline(dge),
                       tuple(str(p) for p in paths or ()))
