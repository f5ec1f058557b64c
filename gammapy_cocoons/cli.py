"""The ``gammapy-cocoons`` command line."""
import sys

import click
import numpy as np
import astropy.units as u

from . import __version__
from .emission import CocoonEmission
from .physics.targetgas import describe_target
from .skyregions import LHAASO_INNER, LHAASO_OUTER


def _fail(message):
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


_DGE_MODELS = ("embedded", "fermi-pi0")
#: largest template cube the command line computes [GB of working memory]
_MAX_TEMPLATE_GB = 4.0


def _dge_option(model, files):
    """The DGE baseline of --dge-model / --dge-file (files win: one file, or two for min and max)."""
    if files:
        if len(files) > 2:
            _fail(f"--dge-file takes one file, or two (base min and max), got {len(files)}")
        return list(files) if len(files) == 2 else files[0]
    return model


def _user_points(specs):
    """FluxPoints of each --points FILE:REGION (REGION: lhaaso-inner, lhaaso-outer, or L1,L2,B1,B2 in deg)."""
    from pathlib import Path

    from .datasets import read_flux_points

    out = []
    for spec in specs:
        path, sep, region_text = spec.rpartition(":")
        if not sep or not path:
            _fail(f"--points must be FILE:REGION with REGION lhaaso-inner, lhaaso-outer or L1,L2,B1,B2, got {spec!r}")
        if region_text in ("lhaaso-inner", "lhaaso-outer"):
            region = {"lhaaso-inner": LHAASO_INNER, "lhaaso-outer": LHAASO_OUTER}[region_text]
        else:
            try:
                box = tuple(float(v) for v in region_text.split(","))
            except ValueError:
                box = ()
            if len(box) != 4:
                _fail(f"--points REGION must be lhaaso-inner, lhaaso-outer or L1,L2,B1,B2 [deg], got {region_text!r}")
            region, _ = _region(None, box, None)
        try:
            out.append(read_flux_points(path, region=region, name=Path(path).stem))
        except (FileNotFoundError, ValueError, TypeError, u.UnitsError) as error:
            _fail(f"--points {spec}: {error}")
    return out


_dge_model_option = click.option(
    "--dge-model", default="embedded", show_default=True, type=click.Choice(_DGE_MODELS),
    help="DGE baseline: the embedded conventional model or the data-driven Fermi pi0 template.")
_dge_file_option = click.option(
    "--dge-file", "dge_files", multiple=True, type=click.Path(dir_okay=False),
    help="A DGE cube (HERMES or any gammapy map cube) instead of --dge-model; give it twice for base min and max.")
#: what --chi0 means, in every command's help
_CHI0_HELP = ("Cocoon grammage chi_c,0 [g cm-2]: the mass grammage of the cocoon gas (H + He, see --target), "
              "the same quantity as the B/C fit's chi0.")
_target_option = click.option(
    "--target", default="ism", show_default=True, type=click.Choice(["ism", "hydrogen"]),
    help="Cocoon gas: 'ism' (H with He/H = 0.1 by number; chi0 holds a hydrogen column chi0 / (1.4 m_p)) or "
         "'hydrogen' (pure hydrogen on chi0 / m_p, the paper's Eq. 7 exactly).")
_points_option = click.option(
    "--points", "points_specs", multiple=True, metavar="FILE:REGION",
    help="Your own flux points (ECSV as read_flux_points reads; intensities per sr allowed) and their region: "
         "lhaaso-inner, lhaaso-outer or L1,L2,B1,B2 [deg]. Repeatable.")


@click.group()
@click.version_option(__version__, prog_name="gammapy-cocoons")
def main():
    """Gamma rays and neutrinos from cosmic-ray cocoons (Ambrosone et al. 2025)."""
    from ._threads import limit_blas_threads

    exit_on_sigterm()
    limit_blas_threads()  # one BLAS thread unless OMP_NUM_THREADS / OPENBLAS_NUM_THREADS say otherwise


def exit_on_sigterm():
    """Make SIGTERM (kill, a scheduler's time limit) unwind like Ctrl-C, so that half-written
    temporary files are removed (outputs are published atomically: final names are never partial)."""
    import signal

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


@main.command()
@click.option("--emin", default=10.0, show_default=True, help="Lowest energy [GeV].")
@click.option("--emax", default=1e6, show_default=True, help="Highest energy [GeV].")
@click.option("--n-energies", default=16, show_default=True, help="Number of log-spaced energies.")
@click.option("--chi0", default=0.4, show_default=True, help=_CHI0_HELP)
@click.option("--r0", default=20.0, show_default=True, help="Cut-off rigidity R0 [TV].")
@click.option(
    "--grammage", default="exponential", show_default=True,
    type=click.Choice(["exponential", "kolmogorov", "kraichnan", "bohm", "constant"]),
    help="Grammage law (Eq. 6, or Eq. B.1 presets).",
)
@_target_option
def spectra(emin, emax, n_energies, chi0, r0, grammage, target):
    """Table of the fiducial cocoon spectra: LHAASO inner and outer, all-sky neutrinos.

    Columns: E [GeV]; E^2 I for gamma rays in the LHAASO inner (15<l<125, |b|<5) and outer
    (125<l<235, |b|<5) regions [GeV cm-2 s-1 sr-1]; E^2 Phi of neutrinos per flavour at Earth
    over the whole sky [GeV cm-2 s-1] (IceCube's convention). chi0 is the mass grammage of the
    cocoon gas (--target: ISM by default; 'hydrogen' is the paper's Eq. 7 exactly).
    """
    if not 0 < emin < emax:
        _fail(f"--emin and --emax must satisfy 0 < emin < emax, got {emin}, {emax}")
    if n_energies < 1:
        _fail(f"--n-energies must be >= 1, got {n_energies}")
    try:
        emission = CocoonEmission(chi0=chi0 * u.g / u.cm**2, r0=r0 * u.TV, grammage=grammage, target=target)
        energy = np.geomspace(emin, emax, n_energies) * u.GeV
        inner = emission.intensity(energy, LHAASO_INNER)
        outer = emission.intensity(energy, LHAASO_OUTER)
        neutrinos = emission.flux(energy, "nu_per_flavour")
    except (ValueError, TypeError, u.UnitsError) as error:
        _fail(str(error))

    sed = "GeV cm-2 s-1 sr-1"
    click.echo(f"# cocoons: chi0 = {chi0:g} g cm-2, R0 = {r0:g} TV, grammage law {grammage!r}, Green (2015) sources, "
               "AAfrag")
    click.echo(f"# cocoon gas: {describe_target(target)}")
    click.echo(f"# Eq. 9: confinement time {emission.confinement_time():.3g} (n_gas = 1 hydrogen atom cm-3)")
    click.echo(f"# Eq. 10: maximum cocoon radius {emission.maximum_cocoon_radius():.3g} (n_gas = 1 hydrogen atom cm-3)")
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
              type=click.Choice(["min", "max"]), help="Member of the DGE band (base min or max) that is fitted.")
@_dge_model_option
@_dge_file_option
@click.option("--datasets", "dataset_names", multiple=True,
              type=click.Choice(["lhaaso-km2a-2023-inner", "lhaaso-km2a-2023-outer", "tibet-asgamma-2021-a",
                                 "tibet-asgamma-2021-b", "argo-ybj-2015"]),
              help="Bundled points to fit (repeatable; default: LHAASO-KM2A inner and outer).")
@_points_option
@click.option("--per-dataset-norms", is_flag=True,
              help="One DGE normalisation per dataset instead of one shared by all (both are reported).")
@click.option("--compare-laws/--no-compare-laws", default=False, show_default=True,
              help="Also fit the exponential, Kraichnan and Bohm laws and write grammage_laws.json.")
@click.option("--profile-points", default=13, show_default=True, type=click.IntRange(3, 200),
              help="Points of the chi0 and R0 likelihood profiles.")
@click.option("--profiles/--no-profiles", default=True, show_default=True,
              help="Compute the chi0 and R0 likelihood profiles (most of the run time).")
@click.option("--posterior/--no-posterior", default=False, show_default=True,
              help="Also sample the posterior with UltraNest (optional dependency; minutes).")
@click.option("--live-points", default=100, show_default=True, type=click.IntRange(20, 10000),
              help="UltraNest live points for --posterior.")
@_target_option
@click.option("--overwrite", is_flag=True, help="Replace results already in --outdir.")
def fit(outdir, grammage, variant, dge_model, dge_files, dataset_names, points_specs, per_dataset_norms,
        compare_laws, profile_points, profiles, posterior, live_points, target, overwrite):
    """Joint fit of cocoons + a DGE to diffuse gamma-ray points (default: LHAASO-KM2A inner and outer).

    The cocoon parameters and one DGE normalisation are shared by all datasets; each dataset keeps
    its fixed mask factor (0.65 for the LHAASO inner region). chi0 is the mass grammage of the
    cocoon gas (--target; ISM by default, as in the B/C fit). Writes fit_result.yaml (gammapy Models
    with covariance), fit_summary.json (success, stat, ndof, parameters with errors, TS of the
    cocoons, the fit with the other choice of DGE normalisations), chi0 and R0 likelihood profiles
    and an SED plot per dataset.

    Files: fit_result.yaml, fit_result_covariance.dat, fit_summary.json, neutrinos.ecsv and
    neutrinos.png; dge_template.fits (the computed DGE the YAML references; not with --dge-file);
    profile_chi0.ecsv, profile_r0.ecsv and profiles.png (with --profiles); sed_<dataset>.png;
    posterior.ecsv (--posterior); grammage_laws.json (--compare-laws). All are checked before
    any is written.
    """
    import json
    from pathlib import Path

    from ._files import publish_text
    from ._files import prepare_outdir
    from .analysis.fitting import compare_grammage_laws, fit_dataset_names, fit_output_files, run_lhaaso_fit

    options = dict(dge=_dge_option(dge_model, dge_files), points=_user_points(points_specs),
                   datasets=dataset_names or ("lhaaso-km2a-2023-inner", "lhaaso-km2a-2023-outer"),
                   shared_dge_norm=not per_dataset_norms, target=target)
    try:  # every output of the command, before anything is written
        names = fit_dataset_names(options["datasets"], options["points"])
        prepare_outdir(outdir, fit_output_files(names, options["dge"], profiles, True, posterior, compare_laws),
                        overwrite)
    except (OSError, ValueError) as error:
        _fail(str(error))
    try:
        summary = run_lhaaso_fit(outdir=outdir, grammage=grammage, variant=variant, overwrite=overwrite,
                                 profile_points=profile_points, profiles=profiles, posterior=posterior,
                                 live_points=live_points, progress=True, **options)
        if compare_laws:
            rows = compare_grammage_laws(variant=variant, **options)
            publish_text(Path(outdir) / "grammage_laws.json", json.dumps(rows, indent=2), overwrite)
    except (OSError, ValueError, ImportError) as error:
        _fail(str(error))
    parameters = summary["parameters"]
    chi0, r0 = parameters["chi0"], parameters["r0"]
    norms = ", ".join(f"{k}={v['value']:.3g}+-{v['error']:.2g}" for k, v in parameters.items() if k.startswith("dge_norm"))
    click.echo(f"success={summary['success']} stat={summary['stat']:.2f} ndof={summary['ndof']} "
               f"chi0={chi0['value']:.3g}+-{chi0['error']:.2g} g cm-2 r0={r0['value']:.3g}+-{r0['error']:.2g} TV "
               f"{norms} TS_cocoons={summary['ts_cocoons']:.2f}")
    click.echo(f"chi0: {summary['chi0_convention']}")
    click.echo(f"results in {outdir}")


_REGION_NAMES = ("lhaaso-inner", "lhaaso-outer", "all-sky")


def _region(name, box, circle):
    """A region from --region NAME, --box L1 L2 B1 B2 or --circle L B RADIUS (degrees, Galactic)."""
    from astropy.coordinates import SkyCoord
    from regions import CircleSkyRegion, RectangleSkyRegion

    given = [x for x in (box, circle) if x]
    if len(given) > 1:
        _fail("give at most one of --box and --circle")
    if box:
        l1, l2, b1, b2 = box
        if not (l2 > l1 and b2 > b1 and -90 <= b1 and b2 <= 90):
            _fail(f"--box needs L1 < L2 and -90 <= B1 < B2 <= 90, got {box}")
        return RectangleSkyRegion(SkyCoord(0.5 * (l1 + l2), 0.5 * (b1 + b2), unit="deg", frame="galactic"),
                                  width=(l2 - l1) * u.deg, height=(b2 - b1) * u.deg), f"box {box}"
    if circle:
        lon, lat, radius = circle
        if not (radius > 0 and -90 <= lat <= 90):
            _fail(f"--circle needs -90 <= B <= 90 and RADIUS > 0, got {circle}")
        return CircleSkyRegion(SkyCoord(lon, lat, unit="deg", frame="galactic"), radius * u.deg), f"circle {circle}"
    return {"lhaaso-inner": LHAASO_INNER, "lhaaso-outer": LHAASO_OUTER, "all-sky": None}[name], name


@main.command()
@click.option("--region", "region_name", default="lhaaso-inner", show_default=True, type=click.Choice(_REGION_NAMES),
              help="Named region (ignored with --box or --circle).")
@click.option("--box", nargs=4, type=float, default=None, help="Galactic box L1 L2 B1 B2 [deg].")
@click.option("--circle", nargs=3, type=float, default=None, help="Galactic circle L B RADIUS [deg].")
@click.option("--secondary", default="gamma", show_default=True,
              type=click.Choice(["gamma", "nu_per_flavour", "nu_all"]), help="Gamma rays or neutrinos.")
@click.option("--emin", default=10.0, show_default=True, help="Lowest energy [GeV].")
@click.option("--emax", default=1e6, show_default=True, help="Highest energy [GeV].")
@click.option("--n-energies", default=30, show_default=True, type=click.IntRange(2, 10000))
@click.option("--chi0", default=0.4, show_default=True, help=_CHI0_HELP)
@click.option("--r0", default=20.0, show_default=True, help="Cut-off rigidity R0 [TV].")
@click.option("--grammage", default="exponential", show_default=True,
              type=click.Choice(["exponential", "kolmogorov", "kraichnan", "bohm", "constant"]))
@_target_option
@click.option("--dge", "dge_variant", default="min", show_default=True,
              type=click.Choice(["none", "min", "max"]),
              help="Member of the DGE band to add (base min or max; 'none': cocoons only).")
@_dge_model_option
@_dge_file_option
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="ECSV file to write.")
@click.option("--plot", "plot_path", default=None, type=click.Path(dir_okay=False), help="Also write a PNG/PDF plot.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
def spectrum(region_name, box, circle, secondary, emin, emax, n_energies, chi0, r0, grammage, target, dge_variant,
             dge_model, dge_files, output, plot_path, overwrite):
    """Cocoon (and DGE, total) spectrum over a region, written as ECSV: E, E^2 I per sr, and the
    region flux. Neutrinos are per flavour at Earth. chi0 is the mass grammage of the cocoon gas
    (--target; the ECSV meta says which)."""
    from pathlib import Path

    from astropy.table import QTable
    from gammapy.modeling.models import SkyModel

    from .models import CocoonSpatialModel, CocoonSpectralModel, RegionFluxSpectralModel

    from ._files import check_outputs, publish_figure, publish_table

    if plot_path and Path(plot_path).suffix.lower().lstrip(".") not in ("png", "pdf", "svg"):
        _fail(f"--plot must end in .png, .pdf or .svg, got {plot_path!r}")
    if plot_path and Path(plot_path).resolve() == Path(output).resolve():
        _fail("--plot and --output must be different files")
    try:
        check_outputs([p for p in (output, plot_path) if p], overwrite, option="--overwrite")
    except OSError as error:
        _fail(str(error))
    if not 0 < emin < emax:
        _fail(f"--emin and --emax must satisfy 0 < emin < emax, got {emin}, {emax}")
    region, label = _region(region_name, box, circle)
    energy = np.geomspace(emin, emax, n_energies) * u.GeV
    try:
        cocoons = SkyModel(spectral_model=CocoonSpectralModel(secondary=secondary, grammage=grammage,
                                                              chi0=chi0 * u.Unit("g cm-2"), r0=r0 * u.TV,
                                                              target=target),
                           spatial_model=CocoonSpatialModel(), name="cocoons")
        model = RegionFluxSpectralModel(cocoons, region=region)
        omega = model.solid_angle()
        columns = {"e_ref": energy, "cocoons": (energy**2 * model(energy) / omega).to("GeV cm-2 s-1 sr-1")}
        if dge_variant != "none":
            from .dge.select import describe_baseline, dge_model as build_dge

            dge_choice = _dge_option(dge_model, dge_files)
            dge = RegionFluxSpectralModel(build_dge(dge_choice, dge_variant, secondary), region=region)
            columns["dge"] = (energy**2 * dge(energy) / omega).to("GeV cm-2 s-1 sr-1")
            columns["total"] = columns["cocoons"] + columns["dge"]
    except (FileNotFoundError, ValueError, TypeError, u.UnitsError) as error:
        _fail(str(error))
    table = QTable(columns, meta={"region": label, "solid_angle_sr": float(omega.to_value("sr")),
                                  "secondary": secondary, "grammage": grammage, "chi0_g_cm2": chi0, "r0_TV": r0,
                                  "target": target, "chi0_convention": describe_target(target),
                                  "dge": dge_variant if dge_variant == "none" else
                                  f"{dge_variant}: {describe_baseline(dge_choice)}",
                                  "columns": "E^2 I per sr; region flux = E^2 I x solid angle"})
    try:
        publish_table(table, output, overwrite, format="ascii.ecsv")
    except OSError as error:
        _fail(str(error))
    if plot_path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4.5))
        for name in [c for c in columns if c != "e_ref"]:
            ax.plot(energy.to_value("GeV"), columns[name].value, label=name)
        ax.set(xscale="log", yscale="log", xlabel="E [GeV]", ylabel=r"$E^2 I$ [GeV cm$^{-2}$ s$^{-1}$ sr$^{-1}$]",
               title=f"{secondary}, {label}")
        top = max(np.nanmax(columns[c].value) for c in columns if c != "e_ref")
        ax.set_ylim(1e-5 * top, 3 * top)
        ax.legend()
        fig.tight_layout()
        try:
            publish_figure(fig, plot_path, overwrite)
        except OSError as error:
            _fail(str(error))
        plt.close(fig)
    click.echo(f"wrote {output}" + (f" and {plot_path}" if plot_path else ""))


@main.command()
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="FITS file to write.")
@click.option("--format", "fmt", default="gadf", show_default=True, type=click.Choice(["gadf", "fermi", "healpix"]))
@click.option("--nside", default=None, type=int, help="HEALPix resolution (HEALPix grid; default for --format healpix: 128).")
@click.option("--binsz", default=0.25, show_default=True, help="WCS pixel size [deg] (Galactic CAR grid).")
@click.option("--width", nargs=2, type=float, default=(360.0, 20.0), show_default=True,
              help="WCS map width in l and b [deg], centred on --center.")
@click.option("--center", nargs=2, type=float, default=(0.0, 0.0), show_default=True, help="WCS map centre l b [deg].")
@click.option("--emin", default=100.0, show_default=True, help="Lowest energy [GeV].")
@click.option("--emax", default=1e6, show_default=True, help="Highest energy [GeV].")
@click.option("--n-energies", default=17, show_default=True, type=click.IntRange(1, 1000))
@click.option("--secondary", default="gamma", show_default=True, type=click.Choice(["gamma", "nu_per_flavour", "nu_all"]))
@click.option("--chi0", default=0.4, show_default=True, help=_CHI0_HELP)
@click.option("--r0", default=20.0, show_default=True, help="Cut-off rigidity R0 [TV].")
@click.option("--grammage", default="exponential", show_default=True,
              type=click.Choice(["exponential", "kolmogorov", "kraichnan", "bohm", "constant"]))
@_target_option
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def template(output, fmt, nside, binsz, width, center, emin, emax, n_energies, secondary, chi0, r0, grammage, target,
             overwrite):
    """Pixel-integrated cocoon sky cube (intensity per pixel, cm-2 s-1 TeV-1 sr-1) as FITS; chi0 is the
    mass grammage of the cocoon gas (--target)."""
    from gammapy.maps import HpxGeom, MapAxis, WcsGeom
    from gammapy.modeling.models import SkyModel

    from ._files import check_outputs
    from .models import CocoonSpatialModel, CocoonSpectralModel
    from .templates import make_cube, write_cube

    try:
        check_outputs([output], overwrite, option="--overwrite")
    except OSError as error:
        _fail(str(error))
    if not 0 < emin <= emax:
        _fail(f"--emin and --emax must satisfy 0 < emin <= emax, got {emin}, {emax}")
    if fmt == "healpix" and nside is None:
        nside = 128
    if nside is not None and (nside < 1 or nside & (nside - 1)):
        _fail(f"--nside must be a power of 2, got {nside}")
    if fmt == "fermi" and nside is not None:
        _fail("--format fermi needs a WCS grid: drop --nside")
    if nside is None and not (0 < binsz <= 10 and 0 < width[0] <= 360 and 0 < width[1] <= 180):
        _fail(f"--binsz must be in (0, 10] deg and --width within (0, 360] x (0, 180] deg, got {binsz}, {width}")
    if nside is None and not (-90 <= center[1] - 0.5 * width[1] and center[1] + 0.5 * width[1] <= 90):
        _fail(f"--center and --width must keep the map within -90 <= b <= 90, got center b {center[1]}, "
              f"height {width[1]}")
    # refuse a cube that will not fit in memory before computing it (about 3 float64 copies of it)
    n_pixels = 12 * nside**2 if nside is not None else int(np.ceil(width[0] / binsz)) * int(np.ceil(width[1] / binsz))
    size_gb = 3 * 8 * n_pixels * n_energies / 1e9
    if size_gb > _MAX_TEMPLATE_GB:
        _fail(f"the cube ({n_pixels} pixels x {n_energies} energies) needs about {size_gb:.0f} GB of memory, more "
              f"than the {_MAX_TEMPLATE_GB:g} GB allowed: lower --nside, --n-energies or the map size")
    energies = np.geomspace(emin, emax, n_energies) * u.GeV
    axis = MapAxis.from_nodes(energies, name="energy_true", interp="log")
    if nside is not None:
        geom = HpxGeom.create(nside=nside, frame="galactic", nest=False, axes=[axis])
    else:
        geom = WcsGeom.create(skydir=center, width=width, binsz=binsz, frame="galactic", proj="CAR", axes=[axis])
    try:
        sky = SkyModel(spectral_model=CocoonSpectralModel(secondary=secondary, grammage=grammage,
                                                          chi0=chi0 * u.Unit("g cm-2"), r0=r0 * u.TV, target=target),
                       spatial_model=CocoonSpatialModel(), name="cocoons")
        cube = make_cube(sky, geom)
        write_cube(cube, output, format=fmt, overwrite=overwrite)
    except (ValueError, TypeError, u.UnitsError, OSError) as error:
        _fail(str(error))
    click.echo(f"wrote {output} ({fmt}, {'HEALPix nside ' + str(nside) if nside else 'WCS CAR'}, {n_energies} energies)")


@main.command()
@click.option("--outdir", required=True, type=click.Path(file_okay=False), help="Directory for the results.")
@click.option("--realisations", default=1000, show_default=True, type=int, help="Realisations of the population (>= 1).")
@click.option("--n-gas", default=1.0, show_default=True, type=float,
              help="Hydrogen atoms per cm3 in the cocoons, > 0 (the gas holds the helium of --target besides).")
@click.option("--radius", default=30.0, show_default=True, type=float, help="Cocoon radius [pc], > 0.")
@click.option("--chi0", default=0.4, show_default=True, type=float, help=_CHI0_HELP + " > 0.")
@_target_option
@click.option("--r0", default=20.0, show_default=True, type=float, help="Cut-off rigidity R0 [TV], > 0.")
@click.option("--escape", default="box", show_default=True, type=click.Choice(["box", "exponential"]),
              help="CRs leave after tau_c(R) (the paper's steady state) or at the rate 1/tau_c(R).")
@click.option("--seed", default=1, show_default=True, type=int, help="Random seed (same seed, same result).")
@click.option("--plot/--no-plot", default=True, show_default=True, help="Write population.png/pdf.")
@click.option("--overwrite", is_flag=True, help="Replace results already in --outdir.")
def population(outdir, realisations, n_gas, radius, chi0, r0, target, escape, seed, plot, overwrite):
    """The discrete cocoons behind the smooth emission: their number, flux fluctuations and the
    1LHAASO comparison. Confinement times chi0 / (m n_gas c), m the gas mass per hydrogen atom
    (1.4 m_p for ISM gas, m_p for --target hydrogen).

    Writes population_summary.json (numbers alive and holding 1, 20, 100 TV, share of the flux
    from near cocoons, detectable cocoons per 1LHAASO component), population_fluxes.ecsv (quantiles
    of the all-sky, LHAASO inner and outer cocoon flux over the realisations, and the population
    mean), population_lognlogs.ecsv and population.png/pdf.
    """
    from .analysis.population import population_output_files, run_population

    for name, value in (("--n-gas", n_gas), ("--radius", radius), ("--chi0", chi0), ("--r0", r0)):
        if not (np.isfinite(value) and value > 0):
            _fail(f"{name} must be finite and > 0, got {value}")
    if realisations < 1:
        _fail(f"--realisations must be >= 1, got {realisations}")
    try:
        from ._files import prepare_outdir

        prepare_outdir(outdir, population_output_files(plot), overwrite)
        with click.progressbar(length=1, label="realising cocoons", file=sys.stderr) as bar:
            summary = run_population(outdir, realisations=realisations, n_gas=n_gas * u.Unit("cm-3"),
                                     radius=radius * u.pc, chi0=chi0 * u.Unit("g cm-2"), r0=r0 * u.TV,
                                     escape=escape, seed=seed, overwrite=overwrite, plot=plot, target=target)
            bar.update(1)
    except (OSError, ValueError) as error:
        _fail(str(error))
    click.echo(f"{summary['alive']['expected']:.0f} cocoons alive on average ({summary['alive']['sampled_mean']:.1f} "
               f"sampled); holding 20 TV: {summary['holding']['20000_GV']['expected']:.0f}")
    for name, entry in summary["lhaaso_1"]["components"].items():
        low, high = entry["detectable_16_84"]
        click.echo(f"1LHAASO {name} ({entry['energy_tev']:g} TeV): {entry['detectable_median']:.0f} ({low:.0f}-{high:.0f}) "
                   f"cocoons above the faintest catalogue flux, {entry['catalog_sources']} catalogue sources")
    click.echo(f"results in {outdir}")


@main.command()
@click.option("--outdir", required=True, type=click.Path(file_okay=False), help="Directory for the results.")
@click.option("--grammage", default="exponential", show_default=True,
              type=click.Choice(["exponential", "constant", "kolmogorov", "kraichnan", "bohm"]),
              help="Cocoon grammage law (Eq. 6 or B.1).")
@click.option("--setup", default="paper", show_default=True, type=click.Choice(["paper", "free"]),
              help="paper: AMS-02 B/C 2018, delta fixed at 0.62 (Evoli et al. 2019); free: AMS-02 2021, delta free.")
@click.option("--production", default="galprop17-opt12", show_default=True,
              type=click.Choice(["galprop17-opt12", "wks98", "evoli2019"]),
              help="Production cross sections of the nuclear network.")
@click.option("--correlated-systematics", type=float, default=None, metavar="DECADES",
              help="Correlate the systematic errors over this many decades of rigidity (> 0); "
                   "default: stat and sys in quadrature.")
@click.option("--with-dampe-calet/--no-dampe-calet", default=False, show_default=True,
              help="Also fit the DAMPE and CALET B/C (they are always overlaid on the plot).")
@click.option("--profile/--no-profile", default=True, show_default=True,
              help="Profile the fit statistic in chi0 for the 68 % interval (about 10 s).")
@click.option("--variants/--no-variants", default=True, show_default=True,
              help="Also report delta free, the 2021 data and the other error model (about 15 s).")
@click.option("--joint/--no-joint", default=False, show_default=True,
              help="Also fit B/C with the LHAASO inner/outer points, one chi0 (joint_summary.json).")
@click.option("--overwrite", is_flag=True, help="Replace results already in --outdir.")
def bc(outdir, grammage, setup, production, correlated_systematics, with_dampe_calet, profile, variants, joint,
       overwrite):
    """Fit B/C with galactic + cocoon grammage and the nuclear network from Ni down to B.

    The paper set-up: AMS-02 B/C 2018 with C/O 2021 for the source O/C, the Evoli et al. 2019
    transport with delta fixed at 0.62. Writes bc_summary.json (set-up, stat, ndof, parameters with
    errors, chi0 68 % interval, the fit with chi0 = 0, the variants, the network), bc_model.ecsv
    (galactic, cocoon and total B/C), bc_data.ecsv and bc_ratio.png/pdf (the paper's Fig. 1).
    Only points above 20 GV are fitted (energy losses neglected). chi0 is the mass grammage of the
    cocoon gas (ISM: H + He, He/H = 0.1 by number), counted like the Galactic grammage and like the
    gamma-ray models' chi0 (before issue 23 it counted m_p x the hydrogen column: 1 / 1.4 of this).
    """
    from ._files import prepare_outdir
    from .analysis.bcfit import BC_OVERLAY_DATA, BC_SETUPS, bc_output_files, joint_fit, run_bc

    if correlated_systematics is not None and not (np.isfinite(correlated_systematics) and correlated_systematics > 0):
        _fail(f"--correlated-systematics must be > 0 decades of rigidity, got {correlated_systematics}")
    names = BC_SETUPS[setup]["data"] + (BC_OVERLAY_DATA if with_dampe_calet else ())
    try:  # every output of the command, before anything is written
        prepare_outdir(outdir, bc_output_files(joint=joint), overwrite)
    except OSError as error:
        _fail(str(error))
    steps = 2 if joint else 1
    with click.progressbar(length=steps, label="fitting B/C", file=sys.stderr) as bar:
        try:
            summary = run_bc(outdir, grammage=grammage, overwrite=overwrite, profile=profile, names=names,
                             setup=setup, production=production, variants=variants,
                             correlation_length=correlated_systematics)
            bar.update(1)
            if joint:
                joint_summary = joint_fit(outdir, overwrite=overwrite)
                bar.update(1)
        except (OSError, ValueError) as error:
            _fail(str(error))
    chi0 = summary["parameters"]["chi0"]
    interval = summary.get("chi0_interval_68")
    text = f" (68 %: {interval[0]:.2f}-{interval[1]:.2f})" if interval and None not in interval else ""
    click.echo(f"set-up {setup}: {summary['setup_description']}")
    click.echo(f"success={summary['success']} chi2={summary['stat']:.2f} ndof={summary['ndof']} "
               f"chi0={chi0['value']:.3g}+-{chi0['error']:.2g} g cm-2 (mass grammage, ISM gas){text} "
               f"chi2(chi0=0)={summary['stat_no_cocoons']:.2f}; "
               f"{100 * summary['network']['boron_from_heavier_than_o']:.1f} % of B from parents heavier than O")
    for label, variant in summary.get("variants", {}).items():
        c = variant["parameters"]["chi0"]
        click.echo(f"  {label}: chi2={variant['stat']:.2f} ndof={variant['ndof']} "
                   f"chi0={c['value']:.3g}+-{c['error']:.2g} g cm-2")
    if joint:
        j = joint_summary["parameters"]["chi0"]
        click.echo(f"joint with LHAASO: stat={joint_summary['stat']:.2f} ndof={joint_summary['ndof']} "
                   f"chi0={j['value']:.3g}+-{j['error']:.2g} g cm-2")
    click.echo(f"results in {outdir}")


@main.command()
@click.option("--outdir", required=True, type=click.Path(file_okay=False), help="Directory for the figures.")
@click.option("--overwrite", is_flag=True, help="Replace figures and tables already in --outdir.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
@_dge_model_option
@_dge_file_option
@_points_option
def reproduce(outdir, overwrite, progress, dge_model, dge_files, points_specs):
    """Every figure of the paper with its ECSV table, and SUMMARY.md (about a minute).

    Fig. 1 (fig1_bc: B/C fit), Fig. 2 (fig2_sed: inner and outer SEDs, chi0 = 0.4 g cm-2,
    R0 = 20 TV), Fig. B.1 (figB1_neutrinos: vs IceCube), Fig. B.2 (figB2_r0_scan: R0 = 10, 20, 50,
    90 TV), Fig. B.3 (figB3_grammage_laws: Kraichnan R0 = 1 TV, Bohm R0 = 10 TV), each as PNG, PDF
    and ECSV; SUMMARY.md and summary.json with the fitted chi0, Eqs. 9-10 and the cocoon fraction
    of the total at 1, 10 and 100 TeV per region, and the data/model ratios. The DGE is drawn as
    computed (no fitted scaling); --dge-file and --points give the paper's set-up with your own
    maps and points. The paper's curves use its Eq. 7 target (pure hydrogen on chi0 / m_p); the fits
    (B/C, LHAASO, joint) count chi0 as the mass grammage of ISM gas; each output says which.
    """
    from .analysis.reproduce import reproduce as run

    dge = _dge_option(dge_model, dge_files)
    points = _user_points(points_specs)
    try:
        summary = run(outdir, overwrite=overwrite, progress=progress, dge=dge, points=points)
    except (FileExistsError, FileNotFoundError, NotADirectoryError, ValueError) as error:
        _fail(str(error))
    bc = summary["bc_fit"]["parameters"]["chi0"]
    fit = summary["lhaaso_fit"]["parameters"]["chi0"]
    click.echo(f"chi0 from B/C: {bc['value']:.2f} +- {bc['error']:.2f} g cm-2; "
               f"from LHAASO: {fit['value']:.2f} +- {fit['error']:.2f} g cm-2 (mass grammage of ISM gas; paper: 0.4)")
    click.echo(f"figures, tables and SUMMARY.md in {outdir}")
