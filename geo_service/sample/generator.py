"""Generate and write the synthetic sample: ``write_sample``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import numpy as np

from geo_service.core.errors import ServiceError
from geo_service.core.paths import BUNDLED_DIVISIONS, NATIONAL_DIVISIONS
from geo_service.sample import linkage as lk
from geo_service.sample import mess as m
from geo_service.sample import vocab
from geo_service.sample.events import choose_structure, make_cases, make_inspections, make_rosters
from geo_service.sample.link_truth import write_truth_links
from geo_service.sample.places import Geography, make_geography
from geo_service.sample.projects import make_projects, project_rows
from geo_service.sample.readme import readme_text
from geo_service.sample.register import make_register
from geo_service.sample.render import make_strangers
from geo_service.sample.signal_rows import complaint_rows, exceedance_rows, inspector_rows
from geo_service.sample.signals import (
    COMPLAINTS_PER_CASE,
    EXCEEDANCES_PER_CASE,
    make_complaints,
    make_exceedances,
    make_roster,
)
from geo_service.sample.tables import (
    Sample,
    case_rows,
    enterprise_rows,
    inspection_rows,
    write_csv,
)
from geo_service.sample.truth import (
    FILES,
    truth_document,
    write_expected_rejects,
    write_truth_points,
)
from geo_service.store.boundaries import read_divisions_file

#: Independent random streams, one per stage (adding a stage never shifts the others).
_STREAMS: Final = (
    "register",
    "structure",
    "cases",
    "inspections",
    "rosters",
    "mess_register",
    "mess_cases",
    "mess_inspections",
    "strangers",
    # appended: SeedSequence children are positional, so the streams above never shift
    "exceedances",
    "complaints",
    "inspectors",
)


class SampleError(ServiceError, ValueError):
    """The sample cannot be generated with these parameters or boundaries."""

    code = "bad_sample_parameters"


def check_vocabulary(geo: Geography) -> None:
    """Fail if a street, town, park or filler word contains a division name.

    Addresses are built from these words after the city and county; a division
    name inside them would make an address name a division it does not mean.
    """
    parks = [p.name for p in geo.tables.parks] + [h.park for h in geo.tables.hot_spots]
    words = (
        *vocab.STREETS,
        *vocab.TOWNS,
        *vocab.VILLAGES,
        *vocab.PARK_ROADS,
        *vocab.NOWHERE_ADDRESSES,
        *parks,
    )
    names = geo.division_names()
    clashes = sorted({w for w in words for n in names if n in w})
    if clashes:
        raise SampleError(f"address words name divisions: {', '.join(clashes)}")


def select_provinces(divisions: gpd.GeoDataFrame, provinces: Sequence[str]) -> gpd.GeoDataFrame:
    """The divisions of some provinces (by adcode); refuses codes that the divisions lack."""
    wanted = [str(p).strip() for p in provinces]
    held = set(divisions["province_adcode"].astype(str))
    missing = [p for p in wanted if p not in held]
    if missing:
        raise SampleError(f"no such provinces in the boundaries: {', '.join(missing)}")
    return divisions[divisions["province_adcode"].astype(str).isin(wanted)]


def generate_sample(
    divisions: gpd.GeoDataFrame,
    *,
    seed: int,
    n_enterprises: int,
    n_cases: int,
    n_inspections: int,
    n_exceedances: int | None = None,
    n_complaints: int | None = None,
) -> Sample:
    """Generate everything in memory (see :func:`write_sample`)."""
    if n_exceedances is None:
        n_exceedances = round(EXCEEDANCES_PER_CASE * n_cases)
    if n_complaints is None:
        n_complaints = round(COMPLAINTS_PER_CASE * n_cases)
    if min(n_cases, n_inspections, n_exceedances, n_complaints) < 0 or n_enterprises < 1:
        raise SampleError("need at least one enterprise and non-negative numbers of records")
    geo = make_geography(divisions)
    if geo.n == 0:
        raise SampleError("the divisions hold no county")
    check_vocabulary(geo)
    streams = np.random.SeedSequence(seed).spawn(len(_STREAMS))
    rngs = {name: np.random.default_rng(s) for name, s in zip(_STREAMS, streams, strict=True)}
    reg = make_register(geo, rngs["register"], n_enterprises, seed)
    structure = choose_structure(geo, reg, rngs["structure"])
    rosters = make_rosters(geo, reg, rngs["rosters"])
    events = {
        "cases": make_cases(geo, reg, structure, rngs["cases"], n_cases),
        "inspections": make_inspections(
            geo, reg, structure, rngs["inspections"], n_inspections, rosters
        ),
    }
    mess = {
        "cases": m.plan_mess(rngs["mess_cases"], "cases", n_cases),
        "inspections": m.plan_mess(rngs["mess_inspections"], "inspections", n_inspections),
    }
    # twins take their names before anything else reads the names
    twins = lk.make_twins(geo, reg, lk.stream(seed, lk.TWIN_STREAM), events, mess)
    strangers = {}
    for k, kind in enumerate(("cases", "inspections")):
        rows = np.flatnonzero(mess[kind].defect == m.REASONS[kind].index("unlocatable"))
        region = min(geo.provinces, default="450000")
        strangers[kind] = make_strangers(rngs["strangers"], reg, rows, seed + k, region)
    s = Sample(
        seed,
        geo,
        reg,
        m.plan_register_mess(rngs["mess_register"], reg.n),
        structure,
        events,
        mess,
        strangers,
        signals={
            "exceedances": make_exceedances(
                geo, reg, structure, rngs["exceedances"], n_exceedances
            ),
            "complaints": make_complaints(geo, reg, structure, rngs["complaints"], n_complaints),
        },
        roster=make_roster(geo, reg, rngs["inspectors"], rosters),
        twins=twins,
    )
    plan_linkage(s)
    return s


def plan_linkage(s: Sample) -> None:
    """Plan what the enterprise linkage must get right (see :mod:`geo_service.sample.linkage`)."""
    assert s.twins is not None
    names = lk.NameIndex(s.geo, s.reg)
    for kind, number in lk.LINKED_KINDS.items():
        rng = lk.stream(s.seed, number)
        if kind in s.events:
            ev = s.events[kind]
            table = (ev.enterprise, ev.near_lon, ev.near_lat)
            s.link[kind] = lk.plan_links(
                s.geo, s.reg, names, s.twins, rng, kind, table, s.mess[kind]
            )
        else:
            sig = s.signals[kind]
            table = (sig.enterprise, sig.lon, sig.lat)
            s.link[kind] = lk.plan_links(
                s.geo, s.reg, names, s.twins, rng, kind, table, sig.mess, sig.background
            )
    s.projects = make_projects(
        s.geo,
        s.reg,
        s.twins,
        names,
        lk.stream(s.seed, lk.PROJECT_STREAM),
        s.events["cases"],
        s.mess["cases"].good,
    )
    s.register_rejects = lk.make_register_rejects(
        s.geo, s.reg, lk.stream(s.seed, lk.REGISTER_REJECT_STREAM), s.seed
    )


def write_sample(
    out_dir: Path,
    *,
    seed: int = 2024,
    n_enterprises: int = 23_000,
    n_cases: int = 20_000,
    n_inspections: int = 60_000,
    divisions: gpd.GeoDataFrame | None = None,
    n_exceedances: int | None = None,
    n_complaints: int | None = None,
    provinces: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Write a seeded synthetic dataset over Guangxi, with its planted truth.

    Files written to ``out_dir``: ``enterprises.csv`` (UTF-8, English headers),
    ``cases.csv`` (GB18030, Chinese headers), ``inspections.csv`` (UTF-8 with
    BOM, Chinese headers), ``exceedances.csv`` (UTF-8, Chinese headers),
    ``complaints.csv`` (GB18030, Chinese headers), ``inspectors.csv`` (UTF-8
    with BOM, Chinese headers), ``truth.json``, ``truth_points.csv``,
    ``expected_rejects.csv`` and ``README.md``. The same arguments give the same
    bytes; the first three files do not depend on the planning files' sizes.

    Parameters
    ----------
    out_dir : pathlib.Path
        Output folder (created if missing; files in it are overwritten).
    seed : int
        Seed of every random choice.
    n_enterprises, n_cases, n_inspections : int
        Rows of each file (rejected rows included).
    n_exceedances, n_complaints : int, optional
        Rows of the planning files (no rejects in them); by default 0.3 and 0.4
        times ``n_cases``. ``inspectors.csv`` holds every county's roster.
    divisions : geopandas.GeoDataFrame, optional
        Boundaries with the bundled file's columns; the bundled Guangxi file by
        default, the bundled national file when ``provinces`` are given.
    provinces : sequence of str, optional
        Adcodes of the provinces to sample (e.g. ``["450000", "440000"]``); all of
        ``divisions`` by default.

    Returns
    -------
    dict
        ``out_dir``, ``seed``, and for each file its ``path`` and ``rows``.

    Raises
    ------
    SampleError
        On impossible sizes or boundaries without counties.
    """
    if divisions is None:
        divisions = read_divisions_file(NATIONAL_DIVISIONS if provinces else BUNDLED_DIVISIONS)
    if provinces:
        divisions = select_provinces(divisions, provinces)
    s = generate_sample(
        divisions,
        seed=seed,
        n_enterprises=n_enterprises,
        n_cases=n_cases,
        n_inspections=n_inspections,
        n_exceedances=n_exceedances,
        n_complaints=n_complaints,
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    writers = {
        "enterprises": enterprise_rows,
        "cases": case_rows,
        "inspections": inspection_rows,
        "exceedances": exceedance_rows,
        "complaints": complaint_rows,
        "inspectors": inspector_rows,
        "projects": project_rows,
    }
    files: dict[str, dict[str, Any]] = {}
    for kind, rows in writers.items():
        path = out / FILES[kind]
        write_csv(path, kind, s.rows(kind), seed, partial(rows, s))
        files[kind] = {"path": str(path), "rows": s.rows(kind)}
    document = truth_document(s)
    (out / "truth.json").write_text(
        json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    files["truth"] = {"path": str(out / "truth.json")}
    points = write_truth_points(s, out / "truth_points.csv")
    files["truth_points"] = {"path": str(out / "truth_points.csv"), "rows": points}
    links = write_truth_links(s, out / "truth_links.csv")
    files["truth_links"] = {"path": str(out / "truth_links.csv"), "rows": links}
    rejects = write_expected_rejects(s, out / "expected_rejects.csv")
    files["expected_rejects"] = {"path": str(out / "expected_rejects.csv"), "rows": rejects}
    (out / "README.md").write_text(readme_text(document), encoding="utf-8")
    files["readme"] = {"path": str(out / "README.md")}
    return {"out_dir": str(out), "seed": seed, "files": files}
