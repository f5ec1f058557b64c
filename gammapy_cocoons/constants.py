"""Physical constants and unit conversions in the package's internal units.

Internal units (see DESIGN.md): GeV for energies and momenta (c = 1), cm and g for grammage,
s for time, kpc for Galactic geometry, mb for cross sections.
"""
import astropy.constants as const
import astropy.units as u

#: proton mass [GeV]; the same value aafragpy uses for its kinematics
PROTON_MASS_GEV = 0.938272
#: proton mass [g], the 1/m_p of Eq. 7
PROTON_MASS_G = const.m_p.to_value(u.g)
#: helium-4 nucleus mass [GeV]
HELIUM_MASS_GEV = 3.727379
#: speed of light [cm s-1]
C_CM_S = const.c.to_value(u.cm / u.s)
#: 1 kpc [cm]
KPC_CM = u.kpc.to(u.cm)
#: 1 pc [cm]
PC_CM = u.pc.to(u.cm)
#: 1 (Julian) year [s]
YR_S = u.yr.to(u.s)
#: 1 erg [GeV]
ERG_GEV = u.erg.to(u.GeV)
#: 1 mb [cm2]
MB_CM2 = u.mbarn.to(u.cm**2)
