"""Ranges shared by the models and the command line, in a module that imports nothing heavy.

The command line builds its options (and ``--help``) from these without importing gammapy or
astropy (seconds); :class:`~gammapy_cocoons.CocoonSpectralModel` takes its Parameter bounds and
:data:`~gammapy_cocoons.emission.ENERGY_RANGE` its values from here, so both see the same numbers.
"""
__all__ = ["CHI0_RANGE_G_CM2", "R0_RANGE_TV", "ENERGY_RANGE_GEV", "GRAMMAGE_LAWS"]

#: bounds of the cocoon grammage chi0 [g cm-2] (mass grammage of the cocoon gas)
CHI0_RANGE_G_CM2 = (0.0, 20.0)
#: bounds of the cut-off rigidity R0 [TV]
R0_RANGE_TV = (1e-3, 1e5)
#: secondary energies the engine accepts [GeV]: from below the Fermi-LAT band to beyond LHAASO
ENERGY_RANGE_GEV = (0.1, 1e8)
#: grammage laws of the models: Eq. 6, Eq. B.1 (free delta, then the turbulence presets of
#: :data:`~gammapy_cocoons.physics.grammage.DIFFUSION_INDICES`), constant
GRAMMAGE_LAWS = ("exponential", "escape", "constant", "kolmogorov", "kraichnan", "bohm")
