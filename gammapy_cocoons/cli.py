"""The ``gammapy-cocoons`` command line.

One vocabulary for every command (docs/userguide.md, "The command line"): each option a user
types is made by one factory below, so that ``--chi0`` has the same range and help in
``spectra``, ``spectrum``, ``template`` and ``population``, ``--dge`` the same values in
``spectrum``, ``fit`` and ``reproduce``, and a region the same syntax in ``--region`` and
``--points``. A new command reuses the factories. Old spellings are kept, hidden, for one release
and print a one-line deprecation warning (:func:`deprecated`).

Errors are one line, ``Error: ...`` naming the option, with exit code 2 and no traceback
(:func:`one_line_errors`; click's own usage errors name the option too); they are printed after
any progress bar is closed, and a failed or interrupted run leaves none of its files
(:func:`gammapy_cocoons._files.output_set`).
"""
import functools
import re
import sys

import click
import numpy as np

from . import __version__
from ._ranges import CHI0_RANGE_G_CM2, ENERGY_RANGE_GEV, GRAMMAGE_LAWS, R0_RANGE_TV

# Heavy modules (astropy, gammapy, the package's models) are imported inside the commands that use
# them, so that ``--help`` and option errors answer in a fraction of a second
# (tests/test_cli.py checks that importing this module loads neither astropy nor gammapy).


def _expected_errors():
    """Errors of bad input or files that the command line reports in one line."""
    import astropy.units as u  # loaded by then: every command that can raise it has imported it

    return (OSError, ValueError, TypeError, u.UnitsError, ImportError)


#: largest template cube the command line computes [GB of working memory]
_MAX_TEMPLATE_GB = 4.0
#: peak working memory of the template command per format, in float64 copies of the cube
_TEMPLATE_COPIES = {"gadf": 2.0, "fermi": 2.0, "healpix": 3.0}
#: dpi of the image of ``spectrum --plot``
_SPECTRUM_PLOT_DPI = 130


def _fail(message):
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def deprecated(old, new):
    """One line on stderr: ``old`` (an option spelling) still works for this release; use ``new``."""
    click.echo(f"Warning: {old} is deprecated and will be removed in the next release; use {new}", err=True)


def warn(message):
    click.echo(f"Warning: {message}", err=True)


def _option_vocabulary(message):
    """The library names a bad argument as ``name: ...``; on the command line that argument is the
    option ``--name`` of the running command, so the message names the option the user typed."""
    match = re.match(r"([a-z][a-z0-9_]*): ", message)
    context = click.get_current_context(silent=True)
    if match is None or context is None:
        return message
    option = "--" + match.group(1).replace("_", "-")
    if any(option in parameter.opts for parameter in context.command.params):
        return option + message[len(match.group(1)):]
    return message


def one_line_errors(command):
    """Run a command body; an expected error becomes ``Error: <message>`` and exit code 2.

    Placed under the option decorators, so it runs after click parsed the options; a progress
    bar inside the body is closed (with-block) before the message is printed.
    """
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except Exception as error:
            if not isinstance(error, _expected_errors()):
                raise
            _fail(_option_vocabulary(" ".join(str(error).split("\n")) or type(error).__name__))
        except KeyboardInterrupt:
            click.echo("Error: interrupted (the files this run had written, if any, were removed)", err=True)
            sys.exit(130)
    return wrapper


# -- option types ------------------------------------------------------------------------------------

class Number(click.ParamType):
    """A finite real number within [low, high] (ends open on request) in ``unit``: NaN, infinities
    and text are refused with the option named (click's FloatRange lets NaN through)."""

    name = "number"

    def __init__(self, low=-np.inf, high=np.inf, unit="", low_open=False, high_open=False):
        self.low, self.high, self.unit = low, high, unit
        self.low_open, self.high_open = low_open, high_open

    def describe(self):
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        unit = f" {self.unit}" if self.unit else ""
        return f"{left}{self.low:g}, {self.high:g}{right}{unit}"

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        below = number <= self.low if self.low_open else number < self.low
        above = number >= self.high if self.high_open else number > self.high
        if not np.isfinite(number) or below or above:
            self.fail(f"must be finite and within {self.describe()}, got {value}", param, ctx)
        return number


_CHI0_RANGE = CHI0_RANGE_G_CM2
_R0_RANGE = R0_RANGE_TV
_ENERGY_GEV = ENERGY_RANGE_GEV


# -- option factories: the vocabulary ----------------------------------------------------------------

def energy_options(emin=10.0, emax=1e6, n_energies=16):
    """--emin, --emax [GeV] and --n-energies (log-spaced), checked by :func:`energies`."""
    def decorate(function):
        function = click.option("--n-energies", default=n_energies, show_default=True, type=click.IntRange(1, 1000),
                                help="Number of log-spaced energies.")(function)
        function = click.option("--emax", default=emax, show_default=True, metavar="GEV",
                                type=Number(*_ENERGY_GEV, unit="GeV"), help="Highest energy [GeV].")(function)
        return click.option("--emin", default=emin, show_default=True, metavar="GEV",
                            type=Number(*_ENERGY_GEV, unit="GeV"), help="Lowest energy [GeV].")(function)
    return decorate


def energies(emin, emax, n_energies):
    """The log-spaced energies of --emin, --emax, --n-energies (emin < emax; equal only for one energy)."""
    if not (emin < emax or (emin == emax and n_energies == 1)):
        raise click.UsageError(f"--emin must be below --emax (equal only with --n-energies 1), got {emin:g} and "
                               f"{emax:g} GeV")
    import astropy.units as u

    return np.geomspace(emin, emax, n_energies) * u.GeV


def chi0_option(function):
    return click.option("--chi0", default=0.4, show_default=True, metavar="G_CM2", type=Number(*_CHI0_RANGE, "g cm-2"),
                        help=f"Cocoon grammage chi_c,0 [g cm-2], within [{_CHI0_RANGE[0]:g}, {_CHI0_RANGE[1]:g}] "
                             "(the model's range): the mass grammage of the cocoon gas (H + He, see --target), the "
                             "same quantity as the B/C fit's chi0.")(function)


def target_option(function):
    return click.option("--target", default="ism", show_default=True, type=click.Choice(["ism", "hydrogen"]),
                        help="Cocoon gas: 'ism' (H with He/H = 0.1 by number; chi0 holds a hydrogen column "
                             "chi0 / (1.4 m_p)) or 'hydrogen' (pure hydrogen on chi0 / m_p, the paper's Eq. 7 "
                             "exactly).")(function)


def r0_option(function):
    return click.option("--r0", default=20.0, show_default=True, metavar="TV", type=Number(*_R0_RANGE, "TV"),
                        help=f"Cut-off rigidity R0 [TV], within [{_R0_RANGE[0]:g}, {_R0_RANGE[1]:g}].")(function)


def grammage_option(function):
    return click.option("--grammage", default="exponential", show_default=True, type=click.Choice(GRAMMAGE_LAWS),
                        help="Cocoon grammage law (Eq. 6, or the Eq. B.1 presets).")(function)


def secondary_option(function):
    return click.option("--secondary", default="gamma", show_default=True,
                        type=click.Choice(["gamma", "nu_per_flavour", "nu_all"]),
                        help="Gamma rays, or neutrinos per flavour at Earth / all flavours.")(function)


def outdir_option(function):
    return click.option("--outdir", required=True, type=click.Path(file_okay=False), metavar="DIR",
                        help="Directory for the results (created; removed again if the run fails).")(function)


def output_option(what="File to write."):
    return click.option("--output", required=True, type=click.Path(dir_okay=False), metavar="FILE", help=what)


def overwrite_option(function):
    return click.option("--overwrite", is_flag=True, help="Replace outputs that exist (all are checked first).")(function)


def progress_option(function):
    return click.option("--progress/--no-progress", default=True, show_default=True,
                        help="Progress bar on stderr.")(function)


#: the built-in DGE baselines (a file path is the other choice)
DGE_NAMES = ("embedded", "fermi-pi0")


def dge_options(allow_none=False, variant=True):
    """--dge NAME|FILE (repeat with a second FILE for a base min / max band), --dge-variant min|max,
    and the deprecated --dge-model, --dge-file (and --dge min|max for the variant)."""
    names = DGE_NAMES + (("none",) if allow_none else ())

    def decorate(function):
        function = click.option("--dge-model", "old_dge_model", default=None, hidden=True)(function)
        function = click.option("--dge-file", "old_dge_files", multiple=True, hidden=True)(function)
        if variant:
            function = click.option("--dge-variant", default="min", show_default=True, type=click.Choice(["min", "max"]),
                                    help="Member of the DGE band that is used (base min or max).")(function)
        return click.option(
            "--dge", "dge_values", multiple=True, metavar="|".join(names) + "|FILE",
            help=f"DGE baseline: {', '.join(names)} (default embedded{'; none: cocoons only' if allow_none else ''}), "
                 "or a DGE cube file (HERMES or a gammapy map cube); give two files for base min and max.")(function)
    return decorate


def resolve_dge(dge_values, old_dge_model=None, old_dge_files=(), dge_variant="min", allow_none=False):
    """(baseline, variant) of the --dge options: "embedded", "fermi-pi0", None (``none``), one path
    or a (min, max) pair of paths. Old spellings are accepted with a deprecation warning."""
    from pathlib import Path

    values = []
    for value in dge_values:
        if value in ("min", "max"):  # the old --dge min|max chose the member of the band
            deprecated(f"--dge {value}", f"--dge-variant {value}")
            dge_variant = value
        else:
            values.append(value)
    if old_dge_model is not None:
        deprecated("--dge-model", "--dge")
        values.append(old_dge_model)
    if old_dge_files:
        deprecated("--dge-file", "--dge")
        values = [v for v in values if v != old_dge_model] + list(old_dge_files)
    names = DGE_NAMES + (("none",) if allow_none else ())
    if not values:
        return "embedded", dge_variant
    if len(values) == 1 and values[0] in names:
        return (None if values[0] == "none" else values[0]), dge_variant
    if any(v in names for v in values) or len(values) > 2:
        raise click.BadParameter(f"give one of {', '.join(names)}, or one or two DGE files, got {' '.join(values)}",
                                 param_hint="'--dge'")
    missing = [v for v in values if not Path(v).is_file()]
    if missing:
        raise click.BadParameter(f"{', '.join(missing)} is not one of {', '.join(names)} nor an existing file",
                                 param_hint="'--dge'")
    return (values[0] if len(values) == 1 else values), dge_variant


#: named regions; the others are written box:L1,L2,B1,B2 or circle:L,B,RADIUS (Galactic, deg)
REGION_NAMES = ("lhaaso-inner", "lhaaso-outer", "all-sky")
REGION_SYNTAX = "lhaaso-inner, lhaaso-outer, all-sky, box:L1,L2,B1,B2 or circle:L,B,RADIUS (Galactic, deg)"


def region_option(function):
    """--region REGION, and the deprecated --box L1 L2 B1 B2 and --circle L B RADIUS."""
    function = click.option("--circle", "old_circle", nargs=3, type=float, default=None, hidden=True)(function)
    function = click.option("--box", "old_box", nargs=4, type=float, default=None, hidden=True)(function)
    return click.option("--region", "region_text", default="lhaaso-inner", show_default=True, metavar="REGION",
                        help=f"Sky region: {REGION_SYNTAX}.")(function)


def _numbers(text, count, option, form):
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != count or not all(np.isfinite(values)):
        raise click.BadParameter(f"{form} needs {count} finite numbers separated by commas, got {text!r}",
                                 param_hint=f"'{option}'")
    return values


def parse_region(text, option="--region", allow_all_sky=True):
    """(region, label) of a REGION text (:data:`REGION_SYNTAX`); errors name ``option``."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from regions import CircleSkyRegion, RectangleSkyRegion

    from .skyregions import LHAASO_INNER, LHAASO_OUTER

    named = {"lhaaso-inner": LHAASO_INNER, "lhaaso-outer": LHAASO_OUTER}
    if allow_all_sky:
        named["all-sky"] = None
    if text in named:
        return named[text], text
    kind, _, numbers = text.partition(":")
    if kind == "box":
        l1, l2, b1, b2 = _numbers(numbers, 4, option, "box:L1,L2,B1,B2")
        if l1 >= l2:
            hint = f"; for a box across l = 0 give L1 below 0, e.g. box:{l1 - 360:g},{l2:g},{b1:g},{b2:g}" \
                if l1 > l2 else ""
            raise click.BadParameter(f"box needs L1 < L2, got {l1:g} and {l2:g}{hint}", param_hint=f"'{option}'")
        if l2 - l1 > 360 or not -90 <= b1 < b2 <= 90:
            raise click.BadParameter(f"box needs L2 - L1 <= 360 and -90 <= B1 < B2 <= 90, got {text!r}",
                                     param_hint=f"'{option}'")
        center = SkyCoord(0.5 * (l1 + l2), 0.5 * (b1 + b2), unit="deg", frame="galactic")
        return RectangleSkyRegion(center, width=(l2 - l1) * u.deg, height=(b2 - b1) * u.deg), text
    if kind == "circle":
        lon, lat, radius = _numbers(numbers, 3, option, "circle:L,B,RADIUS")
        if not (-90 <= lat <= 90 and 0 < radius <= 180):
            raise click.BadParameter(f"circle needs -90 <= B <= 90 and 0 < RADIUS <= 180, got {text!r}",
                                     param_hint=f"'{option}'")
        return CircleSkyRegion(SkyCoord(lon, lat, unit="deg", frame="galactic"), radius * u.deg), text
    allowed = REGION_SYNTAX if allow_all_sky else REGION_SYNTAX.replace("all-sky, ", "")
    raise click.BadParameter(f"must be {allowed}, got {text!r}", param_hint=f"'{option}'")


def resolve_region(region_text, old_box=None, old_circle=None):
    """(region, label) of --region, or of the deprecated --box / --circle."""
    given = [name for name, value in (("--box", old_box), ("--circle", old_circle)) if value]
    if len(given) > 1:
        raise click.UsageError("give one region: --region box:L1,L2,B1,B2 or --region circle:L,B,RADIUS")
    if old_box:
        text = "box:" + ",".join(f"{v:g}" for v in old_box)
        deprecated(f"--box {' '.join(f'{v:g}' for v in old_box)}", f"--region {text}")
        return parse_region(text)
    if old_circle:
        text = "circle:" + ",".join(f"{v:g}" for v in old_circle)
        deprecated(f"--circle {' '.join(f'{v:g}' for v in old_circle)}", f"--region {text}")
        return parse_region(text)
    return parse_region(region_text)


def points_option(function):
    return click.option(
        "--points", "points_specs", multiple=True, metavar="FILE:REGION",
        help="Your own flux points (ECSV as read_flux_points reads; intensities per sr allowed) and their region, "
             f"{REGION_SYNTAX.replace('all-sky, ', '')}. Repeatable.")(function)


def user_points(specs):
    """FluxPoints of each --points FILE:REGION (REGION as --region's, without all-sky)."""
    from pathlib import Path

    import astropy.units as u

    from .datasets import read_flux_points

    out = []
    for spec in specs:
        new = re.fullmatch(r"(.+?):((?:box|circle):[^:]*|lhaaso-inner|lhaaso-outer|all-sky)", spec)
        old = re.fullmatch(r"(.+):([^:,]*(?:,[^:,]*){3})", spec)
        if new:
            path, region_text = new.groups()
        elif old:  # the old FILE:L1,L2,B1,B2
            deprecated(f"--points {spec}", f"--points {old.group(1)}:box:{old.group(2)}")
            path, region_text = old.group(1), f"box:{old.group(2)}"
        else:
            raise click.BadParameter(f"must be FILE:REGION with REGION {REGION_SYNTAX.replace('all-sky, ', '')}, "
                                     f"got {spec!r}", param_hint="'--points'")
        region, _ = parse_region(region_text, "--points", allow_all_sky=False)
        try:
            out.append(read_flux_points(path, region=region, name=Path(path).stem))
        except (FileNotFoundError, ValueError, TypeError, u.UnitsError) as error:
            raise click.BadParameter(f"{spec}: {error}", param_hint="'--points'") from None
    return out


#: the terms of the joint likelihood a command may fit (bundled gamma-ray points, IceCube, B/C)
LIKELIHOOD_DATASET_NAMES = ("lhaaso-km2a-2023-inner", "lhaaso-km2a-2023-outer", "tibet-asgamma-2021-a",
                            "tibet-asgamma-2021-b", "argo-ybj-2015", "icecube-2023-pi0", "ams02-bc")
#: the hypotheses of issue 23 (gammapy_cocoons.analysis.likelihood.HYPOTHESES)
HYPOTHESIS_NAMES = ("dge", "dge+cocoons", "dge+ecpl", "radial-delta")


def likelihood_options(with_bc=True):
    """--dge-norm prior|free|fixed, --energy-scales/--no-energy-scales, --masks scalar|1lhaaso and
    --masked-cocoons: the nuisances and masks of the joint likelihood."""
    def decorate(function):
        function = click.option("--masked-cocoons", is_flag=True,
                                help="Leave out of the cocoon flux the cocoons the population says LHAASO would detect "
                                     "and mask (the 1LHAASO sensitivity proxy; a fixed factor per region and "
                                     "energy).")(function)
        function = click.option("--masks", default="scalar", show_default=True, type=click.Choice(["scalar", "1lhaaso"]),
                                help="LHAASO source masks: the paper's 0.65 on the inner region, or the 1LHAASO "
                                     "circles cut out of both LHAASO regions (r = 2.5 sqrt(r39^2 + 0.3^2) deg).")(function)
        function = click.option("--energy-scales/--no-energy-scales", default=True, show_default=True,
                                help="Each instrument's energy scale as a nuisance with a log-normal prior of its "
                                     "quoted uncertainty (KM2A 8 %, Tibet 12 %, ARGO 13 %).")(function)
        return click.option("--dge-norm", default="prior", show_default=True,
                            type=click.Choice(["prior", "free", "fixed"]),
                            help="DGE normalisation: log-normal prior of width 0.206 in ln N (the GeV validation's "
                                 "spread), free, or fixed at 1.")(function)
    return decorate


def _progress_bar(length, label, show):
    """A click progress bar on stderr, or a stand-in when ``show`` is False."""
    import contextlib

    if show:
        return click.progressbar(length=length, label=label, file=sys.stderr)
    return contextlib.nullcontext(type("NoBar", (), {"update": lambda self, n: None})())


# -- the commands ------------------------------------------------------------------------------------

class OneLineErrors(click.Group):
    """click's usage errors in one line too: ``Error: Invalid value for '--chi0': ...`` and where
    to look, without the usage block (exit code 2, as click's)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as error:
            where = f" (see {error.ctx.command_path} --help)" if getattr(error, "ctx", None) is not None else ""
            click.echo(f"Error: {' '.join(error.format_message().split())}{where}", err=True)
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("Error: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=OneLineErrors)
@click.version_option(__version__, prog_name="gammapy-cocoons")
def main():
    """Gamma rays and neutrinos from cosmic-ray cocoons (Ambrosone et al. 2025).

    Every command has --help; the options are spelled alike in all of them (docs/userguide.md).
    """
    from ._collector import skip_collection_at_exit
    from ._hugepages import avoid_hugepage_advice
    from ._threads import limit_blas_threads

    exit_on_sigterm()
    limit_blas_threads()  # one BLAS thread unless OMP_NUM_THREADS / OPENBLAS_NUM_THREADS say otherwise
    avoid_hugepage_advice()  # no synchronous memory compaction on page faults, unless NUMPY_MADVISE_HUGEPAGE says
    skip_collection_at_exit()  # ~0.5 s of garbage collection at exit, after the last output


def exit_on_sigterm():
    """Make SIGTERM (kill, a scheduler's time limit) unwind like Ctrl-C, so that half-written
    temporary files and the files of the unfinished run are removed (outputs are published
    atomically: final names are never partial)."""
    import signal

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


@main.command()
@energy_options(10.0, 1e6, 16)
@chi0_option
@r0_option
@grammage_option
@target_option
@one_line_errors
def spectra(emin, emax, n_energies, chi0, r0, grammage, target):
    """Table of the fiducial cocoon spectra: LHAASO inner and outer, all-sky neutrinos.

    Columns: E [GeV]; E^2 I for gamma rays in the LHAASO inner (15<l<125, |b|<5) and outer
    (125<l<235, |b|<5) regions [GeV cm-2 s-1 sr-1]; E^2 Phi of neutrinos per flavour at Earth
    over the whole sky [GeV cm-2 s-1] (IceCube's convention). chi0 is the mass grammage of the
    cocoon gas (--target: ISM by default; 'hydrogen' is the paper's Eq. 7 exactly).
    """
    import astropy.units as u

    from .emission import CocoonEmission
    from .physics.targetgas import describe_target
    from .skyregions import LHAASO_INNER, LHAASO_OUTER

    energy = energies(emin, emax, n_energies)
    emission = CocoonEmission(chi0=chi0 * u.g / u.cm**2, r0=r0 * u.TV, grammage=grammage, target=target)
    inner = emission.intensity(energy, LHAASO_INNER)
    outer = emission.intensity(energy, LHAASO_OUTER)
    neutrinos = emission.flux(energy, "nu_per_flavour")

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


def _bound_line(summary):
    """``at_bound=chi0:max`` and the warning line for parameters a fit left at a bound."""
    at_bound = summary.get("at_bound") or {}
    text = ",".join(f"{name}:{side}" for name, side in at_bound.items()) or "none"
    if at_bound:
        warn(summary.get("at_bound_note") or f"parameters at a bound: {text}")
    return f"at_bound={text}"


@main.command()
@outdir_option
@grammage_option
@dge_options()
@click.option("--datasets", "dataset_names", multiple=True, type=click.Choice(LIKELIHOOD_DATASET_NAMES),
              help="Terms of the likelihood (repeatable; default: LHAASO-KM2A inner and outer): bundled gamma-ray "
                   "points, icecube-2023-pi0 (IceCube's Galactic-plane neutrinos, all-sky flux of the pi0-template "
                   "fit), ams02-bc (AMS-02 B/C + C/O, one chi0 with the gamma rays).")
@points_option
@click.option("--hypothesis", default="dge+cocoons", show_default=True, type=click.Choice(HYPOTHESIS_NAMES),
              help="Model: dge (the DGE alone), dge+cocoons, dge+ecpl (an extra exponential-cut-off power law of free "
                   "index and cut-off), radial-delta (the embedded DGE on the KRA-gamma CR sea).")
@likelihood_options()
@click.option("--per-dataset-norms", is_flag=True,
              help="One DGE normalisation per dataset instead of one shared by all (both are reported).")
@click.option("--compare-laws/--no-compare-laws", default=False, show_default=True,
              help="Also fit the exponential, Kraichnan and Bohm laws and write grammage_laws.json.")
@click.option("--profile-points", default=13, show_default=True, type=click.IntRange(3, 200),
              help="Points of the chi0 and R0 likelihood profiles (extended until delta stat 4 or a bound).")
@click.option("--profiles/--no-profiles", default=True, show_default=True,
              help="Compute the chi0 and R0 likelihood profiles (most of the run time).")
@click.option("--posterior/--no-posterior", default=False, show_default=True,
              help="Also sample the posterior with UltraNest (optional dependency; minutes).")
@click.option("--live-points", default=100, show_default=True, type=click.IntRange(20, 10000),
              help="UltraNest live points for --posterior.")
@target_option
@progress_option
@overwrite_option
@one_line_errors
def fit(outdir, grammage, dge_values, dge_variant, old_dge_files, old_dge_model, dataset_names, points_specs,
        hypothesis, dge_norm, energy_scales, masks, masked_cocoons, per_dataset_norms, compare_laws, profile_points,
        profiles, posterior, live_points, target, progress, overwrite):
    """Fit one hypothesis of the joint likelihood to diffuse data (default: cocoons + DGE, LHAASO-KM2A
    inner and outer).

    The cocoon parameters and one DGE normalisation are shared by all datasets; the DGE
    normalisation has a log-normal prior (--dge-norm), each instrument an energy scale with the prior
    of its quoted uncertainty (--energy-scales), each dataset its fixed mask factor (0.65 for the
    LHAASO inner region, or --masks 1lhaaso). Points are compared with gammapy's "distrib" statistic
    (asymmetric errors, upper limits). chi0 is the mass grammage of the cocoon gas (--target; ISM by
    default, as in the B/C fit). Writes fit_result.yaml (gammapy Models with covariance),
    fit_summary.json (success, stat, ndof, parameters with errors, parameters at a bound, TS of the
    cocoons, the fits with the other choice of DGE normalisations and the other --dge-norm modes),
    chi0 and R0 likelihood profiles and an SED plot per dataset.

    Files: fit_result.yaml, fit_result_covariance.dat, fit_summary.json, neutrinos.ecsv and
    neutrinos.png; dge_template.fits (the computed DGE the YAML references; not with a DGE file);
    profile_chi0.ecsv, profile_r0.ecsv and profiles.png (with --profiles); sed_<dataset>.png;
    posterior.ecsv (--posterior); grammage_laws.json (--compare-laws). All are checked before
    any is written, and a run that fails leaves none of them.
    """
    if compare_laws and hypothesis != "dge+cocoons":
        raise click.UsageError("--compare-laws compares the cocoons' grammage laws: only with --hypothesis dge+cocoons")
    if masked_cocoons and hypothesis != "dge+cocoons":
        raise click.UsageError("--masked-cocoons leaves masked cocoons out of the cocoon flux: only with --hypothesis "
                               f"dge+cocoons, got --hypothesis {hypothesis}")
    dge, variant = resolve_dge(dge_values, old_dge_model, old_dge_files, dge_variant)
    with _PrefetchedDGE(dge if hypothesis != "radial-delta" else None, variant):
        summary = _fit(outdir, grammage, dge, variant, dataset_names, points_specs, hypothesis, dge_norm,
                       energy_scales, masks, masked_cocoons, per_dataset_norms, compare_laws, profile_points,
                       profiles, posterior, live_points, target, progress, overwrite)
    _fit_report(summary, outdir)


def _fit(outdir, grammage, dge, variant, dataset_names, points_specs, hypothesis, dge_norm, energy_scales, masks,
         masked_cocoons, per_dataset_norms, compare_laws, profile_points, profiles, posterior, live_points, target,
         progress, overwrite):
    import json
    from pathlib import Path

    from ._files import output_set, prepare_outdir, publish_text
    from .analysis.fitting import compare_grammage_laws, fit_dataset_names, fit_output_files, run_lhaaso_fit

    options = dict(dge=dge, points=user_points(points_specs),
                   datasets=dataset_names or ("lhaaso-km2a-2023-inner", "lhaaso-km2a-2023-outer"),
                   shared_dge_norm=not per_dataset_norms, target=target, hypothesis=hypothesis, dge_norm=dge_norm,
                   energy_scales=energy_scales, masks=masks, masked_cocoons=masked_cocoons)
    names = fit_dataset_names(options["datasets"], options["points"])
    with output_set(outdir):  # one set: the fit's files and grammage_laws.json
        prepare_outdir(outdir, fit_output_files(names, dge, profiles, True, posterior, compare_laws, hypothesis),
                       overwrite)
        summary = run_lhaaso_fit(outdir=outdir, grammage=grammage, variant=variant, overwrite=overwrite,
                                 profile_points=profile_points, profiles=profiles, posterior=posterior,
                                 live_points=live_points, progress=progress, parallel=_two_cores() > 1, **options)
        if compare_laws:
            rows = compare_grammage_laws(variant=variant, **options)
            publish_text(Path(outdir) / "grammage_laws.json", json.dumps(rows, indent=2), overwrite)
    return summary


def _fit_report(summary, outdir):
    parameters = summary["parameters"]
    norms = ", ".join(f"{k}={v['value']:.3g}+-{v['error']:.2g}" for k, v in parameters.items() if k.startswith("dge_norm"))
    cocoons = ""
    if "chi0" in parameters:
        chi0, r0 = parameters["chi0"], parameters["r0"]
        cocoons = (f" chi0={chi0['value']:.3g}+-{chi0['error']:.2g} g cm-2 r0={r0['value']:.3g}+-{r0['error']:.2g} TV")
    ts = f" TS_cocoons={summary['ts_cocoons']:.2f}" if "ts_cocoons" in summary else ""
    click.echo(f"success={summary['success']} {_bound_line(summary)} hypothesis={summary['hypothesis']} "
               f"stat={summary['stat']:.2f} ndof={summary['ndof']}{cocoons} {norms}{ts}")
    if "chi0" in parameters:
        click.echo(f"chi0: {summary['chi0_convention']}")
    click.echo(f"results in {outdir}")


@main.command()
@region_option
@secondary_option
@energy_options(10.0, 1e6, 30)
@chi0_option
@r0_option
@grammage_option
@target_option
@dge_options(allow_none=True)
@output_option("ECSV file to write.")
@click.option("--plot", "plot_path", default=None, type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write a plot (.png, .pdf or .svg).")
@overwrite_option
@one_line_errors
def spectrum(region_text, old_box, old_circle, secondary, emin, emax, n_energies, chi0, r0, grammage, target,
             dge_values, dge_variant, old_dge_files, old_dge_model, output, plot_path, overwrite):
    """Cocoon (and DGE, total) spectrum over a region, written as ECSV: E, E^2 I per sr, and the
    region flux as gammapy flux points (e2dnde; FluxPoints.read reads the file). Neutrinos are per
    flavour at Earth. chi0 is the mass grammage of the cocoon gas
    (--target; the ECSV meta says which)."""
    from pathlib import Path

    from ._files import check_outputs

    if plot_path and Path(plot_path).suffix.lower().lstrip(".") not in ("png", "pdf", "svg"):
        raise click.BadParameter(f"must end in .png, .pdf or .svg, got {plot_path!r}", param_hint="'--plot'")
    if plot_path and Path(plot_path).resolve() == Path(output).resolve():
        raise click.UsageError("--plot and --output must be different files")
    check_outputs([p for p in (output, plot_path) if p], overwrite, option="--overwrite")
    dge_choice, variant = resolve_dge(dge_values, old_dge_model, old_dge_files, dge_variant, allow_none=True)
    with _PrefetchedDGE(dge_choice, variant, secondary):
        energy = energies(emin, emax, n_energies)
        region_choice = resolve_region(region_text, old_box, old_circle)
        _spectrum(region_choice, secondary, energy, chi0, r0, grammage, target, dge_choice, variant, output,
                  plot_path, overwrite)


def _spectrum(region_choice, secondary, energy, chi0, r0, grammage, target, dge_choice, variant, output, plot_path,
              overwrite):
    import astropy.units as u
    from astropy.table import QTable
    from .models.sky import DeclaredUnitSkyModel

    from ._files import output_set, publish_figure, publish_table
    from .models import CocoonSpatialModel, CocoonSpectralModel, RegionFluxSpectralModel
    from .physics.targetgas import describe_target

    region, label = region_choice
    spectral = CocoonSpectralModel(secondary=secondary, grammage=grammage, chi0=chi0 * u.Unit("g cm-2"),
                                   r0=r0 * u.TV, target=target)
    cocoons = DeclaredUnitSkyModel(spectral_model=spectral, spatial_model=CocoonSpatialModel(), name="cocoons")
    model = RegionFluxSpectralModel(cocoons, region=region)
    omega = model.solid_angle()
    columns = {"e_ref": energy, "cocoons": (energy**2 * model(energy) / omega).to("GeV cm-2 s-1 sr-1")}
    dge_text = "none"
    if dge_choice is not None:
        from .dge.select import describe_baseline, dge_model as build_dge

        dge = RegionFluxSpectralModel(build_dge(dge_choice, variant, secondary), region=region)
        columns["dge"] = (energy**2 * dge(energy) / omega).to("GeV cm-2 s-1 sr-1")
        columns["total"] = columns["cocoons"] + columns["dge"]
        dge_text = f"{variant}: {describe_baseline(dge_choice)}"
    # the model's region flux as gammapy flux points (FluxPoints.read reads the file: SED_TYPE e2dnde)
    columns["e2dnde"] = ((columns["total"] if "total" in columns else columns["cocoons"]) * omega).to("GeV cm-2 s-1")
    table = QTable(columns, meta={"region": label, "solid_angle_sr": float(omega.to_value("sr")),
                                  "secondary": secondary, "grammage": grammage, "chi0_g_cm2": chi0, "r0_TV": r0,
                                  "target": target, "chi0_convention": describe_target(target),
                                  "dge": dge_text, "SED_TYPE": "e2dnde",
                                  "columns": "cocoons, dge, total: E^2 I per sr; e2dnde: E^2 dN/dE of the total "
                                             "(cocoons without a DGE) over the region, E^2 I x solid angle (gammapy "
                                             "FluxPoints, sed_type e2dnde)"})
    figure = None
    if plot_path:
        from .analysis.plotting import figures_at, plot_spectrum

        with figures_at(_SPECTRUM_PLOT_DPI):  # laid out at the image's dpi: its draw reuses the text measurements
            figure = plot_spectrum(table)
    with output_set():
        publish_table(table, output, overwrite, format="ascii.ecsv")
        if figure is not None:
            publish_figure(figure, plot_path, overwrite, dpi=_SPECTRUM_PLOT_DPI)
    click.echo(f"wrote {output}" + (f" and {plot_path}" if plot_path else ""))


@main.command()
@output_option("FITS file to write.")
@click.option("--format", "fmt", default="gadf", show_default=True, type=click.Choice(["gadf", "fermi", "healpix"]),
              help="gadf (gammapy), fermi (Fermi-LAT map cube, CAR) or healpix.")
@click.option("--nside", default=None, type=click.IntRange(1, 8192),
              help="HEALPix resolution, a power of 2 (HEALPix grid; default for --format healpix: 128).")
@click.option("--binsz", default=0.25, show_default=True, metavar="DEG", type=Number(0, 10, "deg", low_open=True),
              help="WCS pixel size [deg] (Galactic CAR grid).")
@click.option("--width", nargs=2, type=Number(0, 360, "deg", low_open=True), default=(360.0, 20.0),
              show_default=True, metavar="DL DB", help="WCS map width in l and b [deg], centred on --center.")
@click.option("--center", nargs=2, type=Number(-360, 360, "deg"), default=(0.0, 0.0), show_default=True,
              metavar="L B", help="WCS map centre l b [deg].")
@energy_options(100.0, 1e6, 17)
@secondary_option
@chi0_option
@r0_option
@grammage_option
@target_option
@overwrite_option
@one_line_errors
def template(output, fmt, nside, binsz, width, center, emin, emax, n_energies, secondary, chi0, r0, grammage, target,
             overwrite):
    """Pixel-integrated cocoon sky cube (intensity per pixel, cm-2 s-1 TeV-1 sr-1) as FITS; chi0 is the
    mass grammage of the cocoon gas (--target)."""
    import astropy.units as u
    from gammapy.maps import HpxGeom, MapAxis, WcsGeom
    from .models.sky import DeclaredUnitSkyModel

    from ._files import check_outputs
    from .models import CocoonSpatialModel, CocoonSpectralModel
    from .templates import make_cube, write_cube

    check_outputs([output], overwrite, option="--overwrite")
    energy = energies(emin, emax, n_energies)
    if fmt == "healpix" and nside is None:
        nside = 128
    if nside is not None and nside & (nside - 1):
        raise click.BadParameter(f"must be a power of 2, got {nside}", param_hint="'--nside'")
    if fmt == "fermi" and nside is not None:
        raise click.UsageError("--format fermi needs a WCS grid: drop --nside")
    if nside is None and width[1] > 180:
        raise click.BadParameter(f"the height must be <= 180 deg, got {width[1]:g}", param_hint="'--width'")
    if nside is None and not (-90 <= center[1] - 0.5 * width[1] and center[1] + 0.5 * width[1] <= 90):
        raise click.UsageError(f"--center and --width must keep the map within -90 <= b <= 90, got center b "
                               f"{center[1]:g}, height {width[1]:g}")
    # refuse a cube that will not fit in memory before computing it: the cube (float64) and what the
    # writer adds, measured (benchmarks/README.md): gadf one copy, fermi half a copy, healpix two
    n_pixels = 12 * nside**2 if nside is not None else int(np.ceil(width[0] / binsz)) * int(np.ceil(width[1] / binsz))
    size_gb = _TEMPLATE_COPIES[fmt] * 8 * n_pixels * n_energies / 1e9
    if size_gb > _MAX_TEMPLATE_GB:
        raise click.UsageError(f"the cube ({n_pixels} pixels x {n_energies} energies) needs about {size_gb:.0f} GB of "
                               f"memory, more than the {_MAX_TEMPLATE_GB:g} GB allowed: lower --nside, --n-energies "
                               "or the map size")
    axis = MapAxis.from_nodes(energy, name="energy_true", interp="log")
    if nside is not None:
        geom = HpxGeom.create(nside=nside, frame="galactic", nest=False, axes=[axis])
    else:
        geom = WcsGeom.create(skydir=center, width=width, binsz=binsz, frame="galactic", proj="CAR", axes=[axis])
    spectral = CocoonSpectralModel(secondary=secondary, grammage=grammage, chi0=chi0 * u.Unit("g cm-2"),
                                   r0=r0 * u.TV, target=target)
    sky = DeclaredUnitSkyModel(spectral_model=spectral, spatial_model=CocoonSpatialModel(), name="cocoons")
    write_cube(make_cube(sky, geom), output, format=fmt, overwrite=overwrite)
    click.echo(f"wrote {output} ({fmt}, {'HEALPix nside ' + str(nside) if nside else 'WCS CAR'}, {n_energies} energies)")


class _PrefetchedDGE:
    """With the embedded DGE to build (an empty disk cache), its slow steps that need no gammapy (the
    local-spectrum fits, the CR sea, the HI weights, the transmission: :func:`.dge.conventional.
    prefetch_state`) computed by a forked child while this process imports gammapy, seconds on one
    core while the other is idle; the build installs them (the same numbers: a fork of this
    process), or ``reproduce`` before it forks its answer row's child, which builds the cubes.
    Leaving the block ends a child whose state was not used (a warm cache, an error)."""

    def __init__(self, dge, variant, secondary="gamma"):
        self.dge, self.variant, self.secondary, self.call = dge, variant, secondary, None

    def __enter__(self):
        from .analysis.forked import ForkedCall, can_fork

        if self.dge == "embedded" and can_fork() and _two_cores() > 1:
            self.call = ForkedCall(_prefetch_state, self.variant, self.secondary)
            if self.call.forked:  # else the build computes the steps itself, in its own time
                from .dge.conventional import expect_prefetched

                expect_prefetched(self.call.result)
        return self

    def __exit__(self, *exc):
        if self.call is not None:
            from .dge.conventional import expect_prefetched

            expect_prefetched(None)
            self.call.cancel()
        return False


def _prefetch_state(variant, secondary):
    _import_healpy_without_plots()
    from .dge.conventional import prefetch_state

    return prefetch_state(variant, secondary)


def _import_healpy_without_plots():
    """Import healpy without its plotting functions, for the forked child of :class:`_PrefetchedDGE`,
    which only computes and then ends: healpy imports them (and matplotlib's axes, ~0.35 s of the
    child's ~2.5 s, on the path the parent waits for) only if ``import matplotlib`` succeeds. Nothing
    is changed in a process that holds either module already."""
    import sys

    if "healpy" in sys.modules or "matplotlib" in sys.modules:
        return
    sys.modules["matplotlib"] = None  # "import matplotlib" raises ImportError meanwhile
    try:
        import healpy  # noqa: F401
    finally:
        del sys.modules["matplotlib"]


def _two_cores():
    """2 if this process may run on two or more CPUs, else 1 (the forked steps of population and fit)."""
    import os

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 2 if cpus >= 2 else 1


@main.command()
@outdir_option
@click.option("--realisations", default=1000, show_default=True, type=click.IntRange(1, 100000),
              help="Realisations of the population.")
@click.option("--n-gas", default=1.0, show_default=True, metavar="CM-3", type=Number(0, 1e6, "cm-3", low_open=True),
              help="Hydrogen atoms per cm3 in the cocoons (the gas holds the helium of --target besides).")
@click.option("--radius", default=30.0, show_default=True, metavar="PC", type=Number(0, 1e4, "pc", low_open=True),
              help="Cocoon radius [pc]; a warning above the largest radius of Eq. 10 (~120 pc for the fiducial "
                   "chi0 and n_gas).")
@chi0_option
@r0_option
@target_option
@click.option("--escape", default="box", show_default=True, type=click.Choice(["box", "exponential"]),
              help="CRs leave after tau_c(R) (the paper's steady state) or at the rate 1/tau_c(R).")
@click.option("--seed", default=1, show_default=True, type=click.IntRange(0, 2**32 - 1),
              help="Random seed (same seed, same result).")
@click.option("--plot/--no-plot", default=True, show_default=True, help="Write population.png/pdf.")
@progress_option
@overwrite_option
@one_line_errors
def population(outdir, realisations, n_gas, radius, chi0, r0, target, escape, seed, plot, progress, overwrite):
    """The discrete cocoons behind the smooth emission: their number, flux fluctuations and the
    1LHAASO comparison. Confinement times chi0 / (m n_gas c), m the gas mass per hydrogen atom
    (1.4 m_p for ISM gas, m_p for --target hydrogen).

    Writes population_summary.json (numbers alive and holding 1, 20, 100 TV, share of the flux
    from near cocoons, detectable cocoons per 1LHAASO component), population_fluxes.ecsv (quantiles
    of the all-sky, LHAASO inner and outer cocoon flux over the realisations, and the population
    mean), population_lognlogs.ecsv and population.png/pdf. Uses two cores where it may (the same
    numbers).
    """
    import astropy.units as u

    from .analysis.population import run_population
    from .emission import CocoonEmission

    if chi0 <= 0:
        raise click.BadParameter("the population needs cocoons: chi0 > 0", param_hint="'--chi0'")
    largest = CocoonEmission(chi0=chi0 * u.Unit("g cm-2"), target=target).maximum_cocoon_radius(n_gas * u.Unit("cm-3"))
    if radius > largest.to_value("pc"):
        warn(f"--radius {radius:g} pc is above the largest cocoon radius of Eq. 10, {largest.to_value('pc'):.0f} pc "
             f"for chi0 {chi0:g} g cm-2 and n_gas {n_gas:g} cm-3: such cocoons overfill the source disc")
    with _progress_bar(1, "realising cocoons", progress) as bar:
        summary = run_population(outdir, realisations=realisations, n_gas=n_gas * u.Unit("cm-3"), radius=radius * u.pc,
                                 chi0=chi0 * u.Unit("g cm-2"), r0=r0 * u.TV, escape=escape, seed=seed,
                                 overwrite=overwrite, plot=plot, target=target, workers=_two_cores())
        bar.update(1)
    click.echo(f"{summary['alive']['expected']:.0f} cocoons alive on average ({summary['alive']['sampled_mean']:.1f} "
               f"sampled); holding 20 TV: {summary['holding']['20000_GV']['expected']:.0f}")
    for name, entry in summary["lhaaso_1"]["components"].items():
        low, high = entry["detectable_16_84"]
        click.echo(f"1LHAASO {name} ({entry['energy_tev']:g} TeV): {entry['detectable_median']:.0f} ({low:.0f}-{high:.0f}) "
                   f"cocoons above the faintest catalogue flux, {entry['catalog_sources']} catalogue sources")
    click.echo(f"results in {outdir}")


@main.command()
@outdir_option
@grammage_option
@click.option("--setup", default="paper", show_default=True, type=click.Choice(["paper", "free"]),
              help="paper: AMS-02 B/C 2018, delta fixed at 0.62 (Evoli et al. 2019); free: AMS-02 2021, delta free.")
@click.option("--production", default="galprop17-opt12", show_default=True,
              type=click.Choice(["galprop17-opt12", "wks98", "evoli2019"]),
              help="Production cross sections of the nuclear network.")
@click.option("--correlated-systematics", type=Number(0, 100, "decades", low_open=True), default=None,
              metavar="DECADES", help="Correlate the systematic errors over this many decades of rigidity; "
                                      "default: stat and sys in quadrature.")
@click.option("--dampe-calet/--no-dampe-calet", default=False, show_default=True,
              help="Also fit the DAMPE and CALET B/C (they are always overlaid on the plot).")
@click.option("--with-dampe-calet", "old_with_dampe_calet", is_flag=True, default=False, hidden=True)
@click.option("--profiles/--no-profiles", default=True, show_default=True,
              help="Profile the fit statistic in chi0 for the 68 % interval (about 10 s).")
@click.option("--profile/--no-profile", "old_profile", default=None, hidden=True)
@click.option("--variants/--no-variants", default=True, show_default=True,
              help="Also report delta free, the 2021 data and the other error model (about 15 s).")
@click.option("--joint/--no-joint", default=False, show_default=True,
              help="Also fit B/C with the LHAASO inner/outer points, one chi0 (joint_summary.json).")
@progress_option
@overwrite_option
@one_line_errors
def bc(outdir, grammage, setup, production, correlated_systematics, dampe_calet, old_with_dampe_calet, profiles,
       old_profile, variants, joint, progress, overwrite):
    """Fit B/C with galactic + cocoon grammage and the nuclear network from Ni down to B.

    The paper set-up: AMS-02 B/C 2018 with C/O 2021 for the source O/C, the Evoli et al. 2019
    transport with delta fixed at 0.62. Writes bc_summary.json (set-up, stat, ndof, parameters with
    errors, parameters at a bound, chi0 68 % interval, the fit with chi0 = 0, the variants, the
    network), bc_model.ecsv (galactic, cocoon and total B/C), bc_data.ecsv and bc_ratio.png/pdf
    (the paper's Fig. 1). Only points above 20 GV are fitted (energy losses neglected). chi0 is the
    mass grammage of the cocoon gas (ISM: H + He, He/H = 0.1 by number), counted like the Galactic
    grammage and like the gamma-ray models' chi0 (before issue 23 it counted m_p x the hydrogen
    column: 1 / 1.4 of this).
    """
    from .analysis.bcstart import start_bc_variants

    # the variants fit in a child interpreter on the second core, started before this process
    # imports gammapy (run_bc collects them, or fits them here if the child fails; ends it on error)
    background = start_bc_variants(grammage, production, correlated_systematics) if variants else None
    try:
        from ._files import output_set, prepare_outdir
        from .analysis.bcfit import BC_OVERLAY_DATA, BC_SETUPS, bc_output_files, joint_fit, run_bc

        if old_with_dampe_calet:
            deprecated("--with-dampe-calet", "--dampe-calet")
            dampe_calet = True
        if old_profile is not None:
            deprecated("--profile/--no-profile", "--profiles/--no-profiles")
            profiles = old_profile
        names = BC_SETUPS[setup]["data"] + (BC_OVERLAY_DATA if dampe_calet else ())
        with output_set(outdir):  # one set: the B/C files and joint_summary.json
            prepare_outdir(outdir, bc_output_files(joint=joint), overwrite)
            with _progress_bar(2 if joint else 1, "fitting B/C", progress) as bar:
                summary = run_bc(outdir, grammage=grammage, overwrite=overwrite, profile=profiles, names=names,
                                 setup=setup, production=production, variants=variants,
                                 correlation_length=correlated_systematics, background=background)
                bar.update(1)
                if joint:
                    joint_summary = joint_fit(outdir, overwrite=overwrite)
                    bar.update(1)
    finally:
        if background is not None:
            background.cancel()
    chi0 = summary["parameters"]["chi0"]
    interval = summary.get("chi0_interval_68")
    text = f" (68 %: {interval[0]:.2f}-{interval[1]:.2f})" if interval and None not in interval else ""
    click.echo(f"set-up {setup}: {summary['setup_description']}")
    click.echo(f"success={summary['success']} {_bound_line(summary)} chi2={summary['stat']:.2f} ndof={summary['ndof']} "
               f"chi0={chi0['value']:.3g}+-{chi0['error']:.2g} g cm-2 (mass grammage, ISM gas){text} "
               f"chi2(chi0=0)={summary['stat_no_cocoons']:.2f}; "
               f"{100 * summary['network']['boron_from_heavier_than_o']:.1f} % of B from parents heavier than O")
    for label, variant in summary.get("variants", {}).items():
        c = variant["parameters"]["chi0"]
        bound = ",".join(f"{k}:{v}" for k, v in variant.get("at_bound", {}).items())
        click.echo(f"  {label}: chi2={variant['stat']:.2f} ndof={variant['ndof']} "
                   f"chi0={c['value']:.3g}+-{c['error']:.2g} g cm-2" + (f" at_bound={bound}" if bound else ""))
    if joint:
        j = joint_summary["parameters"]["chi0"]
        click.echo(f"joint with LHAASO: {_bound_line(joint_summary)} stat={joint_summary['stat']:.2f} "
                   f"ndof={joint_summary['ndof']} chi0={j['value']:.3g}+-{j['error']:.2g} g cm-2")
    click.echo(f"results in {outdir}")


@main.command()
@outdir_option
@click.option("--dge", "dge_values", multiple=True, metavar="embedded|fermi-pi0|FILE",
              help="DGE choices (repeatable): embedded (its min and max), fermi-pi0 (its min member), or a DGE cube "
                   "file (one more choice, its min member = the file). Default: embedded and fermi-pi0; files only "
                   "add to that default.")
@click.option("--hypotheses", "hypothesis_names", multiple=True, type=click.Choice(HYPOTHESIS_NAMES),
              help="Hypotheses to fit (repeatable; default all four; radial-delta only under the embedded DGE).")
@click.option("--datasets", "dataset_names", multiple=True, type=click.Choice(LIKELIHOOD_DATASET_NAMES[:-1]),
              help="Terms of the likelihood (repeatable; default: the five bundled gamma-ray datasets and "
                   "icecube-2023-pi0). B/C is fitted apart (--bc).")
@points_option
@likelihood_options()
@target_option
@click.option("--toys", default=30, show_default=True, type=click.IntRange(0, 100000),
              help="Toy experiments per DGE choice calibrating the free-R0 TS (0: the R0 = 20 TV significance only).")
@click.option("--seed", default=20261206, show_default=True, type=click.IntRange(0, 2**32 - 1),
              help="Seed of the toys.")
@click.option("--bc/--no-bc", default=True, show_default=True, help="Fit AMS-02 B/C alone for chi0 from B/C.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(0, 64),
              help="Processes for the independent fits (0: all in this process).")
@click.option("--plot/--no-plot", default=True, show_default=True, help="Write residuals.png.")
@progress_option
@overwrite_option
@one_line_errors
def compare(outdir, dge_values, hypothesis_names, dataset_names, points_specs, dge_norm, energy_scales, masks,
            masked_cocoons, target, toys, seed, bc, workers, plot, progress, overwrite):
    """Does the data want cocoons? Every hypothesis under every DGE choice, on one likelihood.

    Hypotheses: dge (a), dge+cocoons (b), dge+ecpl (c), radial-delta (d); DGE choices: the embedded
    DGE's min and max, the Fermi pi0 baseline, your files. Writes compare.json (one row per
    hypothesis and DGE choice: stat, ndof, delta_aic, ts_cocoons, chi0 and r0 with 68 % intervals,
    and the answer), compare.md (the same as tables) and residuals.png. The cocoons' significance:
    at R0 = 20 TV against half a chi2 (1 dof); for free R0 calibrated with toys (Gross-Vitells).
    chi0 is the mass grammage of the cocoon gas (--target).
    """
    from pathlib import Path

    from .analysis.compare import default_dge_choices, run_compare

    names = [v for v in dge_values if v in DGE_NAMES]
    files = [v for v in dge_values if v not in DGE_NAMES]
    missing = [v for v in files if not Path(v).is_file()]
    if missing:
        raise click.BadParameter(f"{', '.join(missing)} is not one of {', '.join(DGE_NAMES)} nor an existing file",
                                 param_hint="'--dge'")
    choices = [c for c in default_dge_choices() if not names or c[0] in names] + [(f, "min") for f in files]
    executor = None
    if workers == 0:
        from concurrent.futures import ThreadPoolExecutor

        executor = ThreadPoolExecutor(max_workers=1)
    elif workers != 2:
        from .analysis.compare import worker_pool

        executor = worker_pool(workers)
    try:
        result = run_compare(outdir, dge_choices=choices, datasets=dataset_names or None,
                             points=user_points(points_specs), hypotheses=hypothesis_names or None, dge_norm=dge_norm,
                             energy_scales=energy_scales, masks=masks, masked_cocoons=masked_cocoons, target=target,
                             n_toys=toys, seed=seed, bc=bc, executor=executor, plot=plot, overwrite=overwrite,
                             progress=progress)
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
    for entry in result["answer"]:
        z = entry.get("z_global", entry.get("z_r0_20"))
        chi0 = entry.get("chi0_gamma")
        bc_chi0 = entry.get("chi0_bc")
        click.echo(f"{entry['dge']}: preferred={entry['preferred']}"
                   + (f" TS(R0=20TV)={entry['ts_r0_20']:.2f} TS(free R0)={entry['ts_free']:.2f} Z={z:.2f}"
                      f" chi0_gamma={chi0['value']:.3g} g cm-2" if chi0 else "")
                   + (f" chi0_BC={bc_chi0['value']:.3g} g cm-2" if bc_chi0 else ""))
    click.echo(f"chi0: {result['chi0_convention']}")
    click.echo(f"results in {outdir}")


@main.command()
@outdir_option
@dge_options(variant=False)
@points_option
@progress_option
@overwrite_option
@one_line_errors
def reproduce(outdir, dge_values, old_dge_files, old_dge_model, points_specs, progress, overwrite):
    """Every figure of the paper with its ECSV table, and SUMMARY.md (about 13-17 s on two cores).

    Fig. 1 (fig1_bc: B/C fit), Fig. 2 (fig2_sed: inner and outer SEDs, chi0 = 0.4 g cm-2,
    R0 = 20 TV), Fig. B.1 (figB1_neutrinos: vs IceCube), Fig. B.2 (figB2_r0_scan: R0 = 10, 20, 50,
    90 TV), Fig. B.3 (figB3_grammage_laws: Kraichnan R0 = 1 TV, Bohm R0 = 10 TV), each as PNG, PDF
    and ECSV; SUMMARY.md and summary.json with the fitted chi0, Eqs. 9-10 and the cocoon fraction
    of the total at 1, 10 and 100 TeV per region, and the data/model ratios. The DGE is drawn as
    computed (no fitted scaling, both members of the band); --dge and --points give the paper's
    set-up with your own maps and points. The paper's curves use its Eq. 7 target (pure hydrogen on
    chi0 / m_p); the fits (B/C, LHAASO, joint) count chi0 as the mass grammage of ISM gas; each
    output says which.
    """
    from ._collector import frozen_imports
    from .analysis.answer import start_answer
    from .analysis.forked import can_fork

    dge, _ = resolve_dge(dge_values, old_dge_model, old_dge_files)
    answer = None
    try:
        if can_fork() and _two_cores() > 1:
            # the embedded DGE's first steps computed by a forked helper while this process imports
            # gammapy; then the answer row's child forked from this process, with both (no imports)
            with _PrefetchedDGE(dge, "min"):
                from .analysis.reproduce import reproduce as run

                answer = start_answer(dge, fork=True)
                if answer is None:  # (too little memory for a child) this process builds the cubes: with the steps
                    from .dge.conventional import adopt_prefetched

                    adopt_prefetched()
        else:
            answer = start_answer(dge)  # first: the child's imports run while this process imports gammapy
            from .analysis.reproduce import reproduce as run

        points = user_points(points_specs)
        with frozen_imports():  # the run's ~14 full collections skip gammapy's and astropy's objects
            summary = run(outdir, overwrite=overwrite, progress=progress, dge=dge, points=points,
                          answer=answer or False)
    finally:
        if answer is not None:  # a run that failed before it began ends the child too
            answer.cancel()
    bc_fit = summary["bc_fit"]["parameters"]["chi0"]
    fit_ = summary["lhaaso_fit"]["parameters"]["chi0"]
    click.echo(f"chi0 from B/C: {bc_fit['value']:.2f} +- {bc_fit['error']:.2f} g cm-2; "
               f"from LHAASO: {fit_['value']:.2f} +- {fit_['error']:.2f} g cm-2 (mass grammage of ISM gas; paper: 0.4)")
    for name in ("bc_fit", "lhaaso_fit", "joint_fit"):
        if summary[name].get("at_bound"):
            warn(f"{name.replace('_', ' ')}: {summary[name].get('at_bound_note') or summary[name]['at_bound']}")
    click.echo(f"figures, tables and SUMMARY.md in {outdir}")
