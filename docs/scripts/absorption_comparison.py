"""Print the numbers of the absorption comparison in docs/physics.md ("Why l = 30 deg differs").

1. Transmission exp(-tau) towards l = 0 (8.5 kpc), 30 (8 kpc) and 90 deg (5 kpc) at 0.1 / 0.3 / 1 /
   3 PeV (`optical_depth`, isotropic photons).
2. The GALPROP v54 field in the plane (z = 0) against Galactocentric radius: starlight, infrared and
   far-infrared (lambda >= 50 micron) energy densities [eV cm-3] and the ISRF absorption
   coefficient at 100 TeV [kpc-1].
3. A rough estimate of what isotropy does: the ratio of the absorption rate of a gamma ray
   travelling towards the Sun to the isotropic rate, at 100 TeV, at points along the l = 30 and
   l = 0 paths and for four directions at the Sun. The infrared intensity in each direction is the
   line-of-sight integral of a thin-disc emissivity j(R, z) = u_IR(R, 0) exp(-abs(z) / h) (the
   GALPROP infrared's radial shape, h = 0.1 kpc), with the local photon spectrum in every
   direction; an estimate, not a model of the field.
4. With ``--photonalp DIR`` (a checkout of github.com/hvogel0/PhotonALP, commit ff00e4b, whose
   ``Milky_Way/Gamma/gamma_BBB_LLL.dat`` tabulate the absorption rate of the Vernetto & Lipari 2016
   model along lines of sight from the Sun): their rate against ours at 100 TeV along the three
   paths, their transmissions, and the rates at the Sun by direction.

Run from the repository root (about 1 minute): ``python docs/scripts/absorption_comparison.py
[--photonalp DIR]``.
"""
import argparse
from pathlib import Path

import astropy.units as u
import numpy as np
from scipy.integrate import trapezoid

from gammapy_cocoons.physics.absorption import (
    ELECTRON_MASS_GEV, absorption_coefficient, cmb_absorption_coefficient, optical_depth,
    pair_production_cross_section,
)
from gammapy_cocoons.physics.isrf import galprop_isrf

R_SUN = 8.5
PATHS = {0: 8.5, 30: 8.0, 90: 5.0}
ENERGIES = np.array([1e5, 3e5, 1e6, 3e6])  # GeV


def path_radius(lon_deg, s):
    return np.sqrt(R_SUN**2 + s**2 - 2 * R_SUN * s * np.cos(np.radians(lon_deg)))


def isrf_kappa_100tev(r):
    r = np.atleast_1d(np.asarray(r, float))
    return absorption_coefficient(np.array([1e5]), r, 0 * r)[0] - cmb_absorption_coefficient(np.array([1e5]))[0]


def transmissions():
    print("1. transmission (isotropic photons)")
    for lon, d in PATHS.items():
        tau = optical_depth(ENERGIES * u.GeV, lon * u.deg, 0 * u.deg, d * u.kpc).value
        print(f"   l = {lon:3d}, {d} kpc: " + " / ".join(f"{t:.3f}" for t in np.exp(-tau)))


def radial_table():
    field = galprop_isrf()
    far = field.eps <= 1.239841984e-9 / 50.0  # lambda >= 50 micron
    print("2. GALPROP v54 at z = 0: R [kpc], u_opt, u_IR, u_IR(>= 50 um) [eV cm-3], kappa_ISRF(100 TeV) [kpc-1]")
    for r in [0.25, 1, 2, 3, 4, 4.25, 5, 6, 7, 8, 8.5, 9, 10, 11, 12]:
        opt = field.energy_density(r, 0.0, "optical")
        ir = field.energy_density(r, 0.0, "infrared")
        n = field.number_density(r, 0.0, "infrared")
        ir_far = trapezoid((n * field.eps * 1e9)[far], np.log(field.eps[far]))
        print(f"   {r:5.2f} {float(opt):6.2f} {float(ir):5.2f} {ir_far:5.2f} {isrf_kappa_100tev(r)[0]:.4f}")


class ThinDiscAnisotropy:
    """Rate of a gamma ray of energy E moving along ``direction`` over the isotropic rate at P."""

    def __init__(self, energy=1e5, h=0.1, n_az=240, n_el=81):
        field = galprop_isrf()
        self.field, self.energy, self.h = field, energy, h
        self.u_r = field.energy_density(field.r, 0.0, "infrared")
        self.az = (np.arange(n_az) + 0.5) * 2 * np.pi / n_az
        mu = np.clip(0.01 * np.sinh(np.linspace(-np.arcsinh(100.0), np.arcsinh(100.0), n_el)), -1, 1)
        self.mu, self.w_mu = mu, np.gradient(mu)  # sin(b), dense near the plane
        self.s = np.concatenate([np.linspace(0, 2, 201)[1:], np.linspace(2, 40, 381)[1:]])
        self.w_s = np.diff(np.concatenate([[0.0], self.s]))
        self.x = np.linspace(0.0, 2.0, 401)  # 1 - cos(collision angle)

    def _kernel(self, r):
        """K(x) = int dln eps n(eps) x sigma(2 E eps x), the local spectrum at (r, 0)."""
        f = self.field
        n = f.number_density(r, 0.0, ("optical", "infrared"))
        sigma = pair_production_cross_section(2 * self.energy * f.eps[:, None] * self.x)
        return trapezoid(n[:, None] * self.x * sigma, np.log(f.eps), axis=0)

    def factor(self, point, direction):
        cos_b = np.sqrt(1 - self.mu**2)
        d = np.stack([cos_b[:, None] * np.cos(self.az), cos_b[:, None] * np.sin(self.az),
                      self.mu[:, None] * np.ones_like(self.az)])  # where the photons come from
        pos = point[:, None, None, None] + d[..., None] * self.s
        r = np.hypot(pos[0], pos[1])
        j = np.interp(r, self.field.r, self.u_r, right=0.0) * np.exp(-np.abs(pos[2]) / self.h)
        weight = np.sum(j * self.w_s, axis=-1) * self.w_mu[:, None]
        weight /= weight.sum()
        cos = -np.tensordot(direction, d, axes=1)  # the photons travel along -d
        kernel = self._kernel(np.hypot(point[0], point[1]))
        return np.sum(weight * np.interp(1 - cos, self.x, kernel)) / (0.5 * trapezoid(kernel, self.x))


def anisotropy():
    model = ThinDiscAnisotropy()
    sun = np.array([R_SUN, 0.0, 0.0])
    print("3. rough anisotropy factor at 100 TeV (rate towards the Sun / isotropic rate), thin disc h = 0.1 kpc")
    for lon in (0, 30, 90, 180):
        towards = np.array([-np.cos(np.radians(lon)), np.sin(np.radians(lon)), 0.0])  # Sun -> source
        print(f"   at the Sun, gamma ray from l = {lon:3d}: {model.factor(sun, -towards):.2f}")
    for lon in (30, 0):
        d_max = PATHS[lon]
        towards = np.array([-np.cos(np.radians(lon)), np.sin(np.radians(lon)), 0.0])
        nodes = np.linspace(0.0, d_max, 9)
        f = np.array([model.factor(sun + s * towards, -towards) for s in nodes])
        s = np.linspace(0.0, d_max, 401)
        kappa = isrf_kappa_100tev(path_radius(lon, s))
        iso, aniso = trapezoid(kappa, s), trapezoid(kappa * np.interp(s, nodes, f), s)
        print(f"   l = {lon:3d}: factor " + " ".join(f"{v:.2f}" for v in f) + f" at d = 0..{d_max} kpc; "
              f"tau_ISRF(100 TeV) {iso:.3f} isotropic, {aniso:.3f} anisotropic (x {iso / aniso:.2f})")


def photonalp(folder):
    folder = Path(folder)

    def table(b, l):
        data = np.loadtxt(folder / f"gamma_{b:03d}_{l:03d}.dat")
        return data  # columns: E [eV], d [kpc] (bin middles, 1 kpc bins), rate [kpc-1]

    def at_energy(data, energy_ev):
        e = np.unique(data[:, 0])
        rows = data[data[:, 0] == e[np.argmin(np.abs(np.log(e / energy_ev)))]]
        return rows[np.argsort(rows[:, 1])]

    print("4. Vernetto & Lipari (PhotonALP tables) against this package")
    for lon, d_max in PATHS.items():
        data = table(0, lon)
        t_vl, t_us = [], []
        for e in ENERGIES:
            rows = at_energy(data, e * 1e9)
            s = np.linspace(0.0, d_max, 401)
            t_vl.append(np.exp(-trapezoid(np.interp(s, rows[:, 1], rows[:, 2]), s)))
        rows = at_energy(data, 1e14)
        keep = rows[:, 1] <= d_max + 0.5
        ours = isrf_kappa_100tev(path_radius(lon, rows[keep, 1])) + cmb_absorption_coefficient(np.array([1e5]))[0]
        print(f"   l = {lon:3d}: V&L transmission " + " / ".join(f"{t:.3f}" for t in t_vl))
        print("     100 TeV, d [kpc] / R [kpc] / V&L / ours [kpc-1]: " + "; ".join(
            f"{d:.2f} {path_radius(lon, d):.2f} {v:.4f} {o:.4f}" for d, v, o in zip(rows[keep, 1], rows[keep, 2], ours)))
    print("   at the Sun (first bin, d = 0.5 kpc), 100 TeV, V&L / ours by longitude (b = 0):")
    for lon in (0, 30, 90, 150, 180):
        rows = at_energy(table(0, lon), 1e14)
        ours = isrf_kappa_100tev(path_radius(lon, 0.5))[0]
        print(f"     l = {lon:3d}: {rows[0, 2]:.4f} / {ours:.4f} = {rows[0, 2] / ours:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photonalp", help="folder holding PhotonALP's Milky_Way/Gamma/gamma_BBB_LLL.dat")
    args = parser.parse_args()
    threshold_ev = ELECTRON_MASS_GEV**2 / 1e5 * 1e9
    print(f"(100 TeV: head-on pair threshold at {1.239841984e-6 / threshold_ev * 1e6:.0f} micron)")
    transmissions()
    radial_table()
    anisotropy()
    if args.photonalp:
        photonalp(args.photonalp)


if __name__ == "__main__":
    main()
