"""The ``gammapy-cocoons`` command line."""
import sys

import click
import numpy as np
import astropy.units as u

from . import __version__
from .emission import CocoonEmission
from .skyregions import LHAASO_INNER, LHAASO_OUTER


def _fail(message):
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


@click.group()
@click.version_option(__version__, prog_name="gammapy-cocoons")
def main():
    """Gamma rays and neutrinos from cosmic-ray cocoons (Ambrosone et al. 2025)."""


@main.command()
@click.option("--emin", default=10.0, show_default=True, help="Lowest energy [GeV].")
@click.option("--emax", default=1e6, show_default=True, help="Highest energy [GeV].")
@click.option("--n-energies", default=16, show_default=True, help="Number of log-spaced energies.")
@click.option("--chi0", default=0.4, show_default=True, help="Cocoon grammage chi_c,0 [g cm-2].")
@click.option("--r0", default=20.0, show_default=True, help="Cut-off rigidity R0 [TV].")
@click.option(
    "--grammage", default="exponential", show_default=True,
    type=click.Choice(["exponential", "kolmogorov", "kraichnan", "bohm", "constant"]),
    help="Grammage law (Eq. 6, or Eq. B.1 presets).",
)
def spectra(emin, emax, n_energies, chi0, r0, grammage):
    """Table of the fiducial cocoon spectra: LHAASO inner and outer, all-sky neutrinos.

    Columns: E [GeV]; E^2 I for gamma rays in the LHAASO inner (15<l<125, |b|<5) and outer
    (125<l<235, |b|<5) regions [GeV cm-2 s-1 sr-1]; E^2 Phi of neutrinos per flavour at Earth
    over the whole sky [GeV cm-2 s-1] (IceCube's convention).
    """
    if not 0 < emin < emax:
        _fail(f"--emin and --emax must satisfy 0 < emin < emax, got {emin}, {emax}")
    if n_energies < 1:
        _fail(f"--n-energies must be >= 1, got {n_energies}")
    try:
        emission = CocoonEmission(chi0=chi0 * u.g / u.cm**2, r0=r0 * u.TV, grammage=grammage)
        energy = np.geomspace(emin, emax, n_energies) * u.GeV
        inner = emission.intensity(energy, LHAASO_INNER)
        outer = emission.intensity(energy, LHAASO_OUTER)
        neutrinos = emission.flux(energy, "nu_per_flavour")
    except (ValueError, TypeError, u.UnitsError) as error:
        _fail(str(error))

    sed = "GeV cm-2 s-1 sr-1"
    click.echo(f"# {emission!r}")
    click.echo(f"# Eq. 9: confinement time {emission.confinement_time():.3g} (n_gas = 1 cm-3)")
    click.echo(f"# Eq. 10: maximum cocoon radius {emission.maximum_cocoon_radius():.3g} (n_gas = 1 cm-3)")
    click.echo(f"# {'E [GeV]':>12} {'inner E2I [' + sed + ']':>34} {'outer E2I':>12} {'nu/flavour E2Phi [GeV cm-2 s-1]':>34}")
    for e, i, o, n in zip(energy, inner, outer, neutrinos):
        click.echo(
            f"{e.to_value('GeV'):14.4e} {(e**2 * i).to_value(sed):34.4e} "
            f"{(e**2 * o).to_value(sed):12.4e} {(e**2 * n).to_value('GeV cm-2 s-1'):34.4e}"
        )


@main.command()
@click.option("--outdir", required=True, type=click.Path(file_okay=False), help="Directory for the results.")
@click.option(
    "--grammage", default="exponential", show_default=True,
    type=click.Choice(["exponential", "kolmogorov", "kraichnan", "bohm", "constant"]),
    help="Cocoon grammage law.",
)
@click.option("--dge", "variant", default="min", show_default=True,
              type=click.Choice(["min", "max", "kascade-grande", "icetop"]), help="Embedded DGE variant.")
@click.option("--compare-laws/--no-compare-laws", default=False, show_default=True,
              help="Also fit the exponential, Kraichnan and Bohm laws and write grammage_laws.json.")
@click.option("--profile-points", default=13, show_default=True, type=click.IntRange(3, 200),
              help="Points of the chi0 and R0 likelihood profiles.")
@click.option("--posterior/--no-posterior", default=False, show_default=True,
              help="Also sample the posterior with UltraNest (optional dependency; minutes).")
@click.option("--live-points", default=100, show_default=True, type=click.IntRange(20, 10000),
              help="UltraNest live points for --posterior.")
@click.option("--overwrite", is_flag=True, help="Replace results already in --outdir.")
def fit(outdir, grammage, variant, compare_laws, profile_points, posterior, live_points, overwrite):
    """Joint fit of cocoons + the embedded DGE to the LHAASO-KM2A inner and outer points.

    Writes fit_result.yaml (gammapy Models with covariance), fit_summary.json (success, stat,
    ndof, parameters with errors, TS of the cocoons), chi0 and R0 likelihood profiles and an SED
    plot per region.
    """
    import json
    from pathlib import Path

    from .fitting import compare_grammage_laws, run_lhaaso_fit

    with click.progressbar(length=2 if compare_laws else 1, label="fitting", file=sys.stderr) as bar:
        try:
            summary = run_lhaaso_fit(outdir=outdir, grammage=grammage, variant=variant, overwrite=overwrite,
                                     profile_points=profile_points, posterior=posterior, live_points=live_points)
        except (FileExistsError, ValueError, ImportError) as error:
            _fail(str(error))
        bar.update(1)
        if compare_laws:
            rows = compare_grammage_laws(variant=variant)
            (Path(outdir) / "grammage_laws.json").write_text(json.dumps(rows, indent=2))
            bar.update(1)
    chi0 = summary["parameters"]["chi0"]
    click.echo(f"success={summary['success']} stat={summary['stat']:.2f} ndof={summary['ndof']} "
               f"chi0={chi0['value']:.3g}+-{chi0['error']:.2g} g cm-2 TS_cocoons={summary['ts_cocoons']:.2f}")
    click.echo(f"results in {outdir}")
