"""The analytics recover the structure planted in the committed sample slice (truth.json)."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from sklearn.metrics import adjusted_rand_score
from sqlalchemy import Engine, text

from analytics.problem_types import K_CRITERION
from analytics.segmenter import tokenizer, violation_categories, words
from geo_service.builds.problem_types import label_records
from geo_service.builds.run import analytic_layer
from geo_service.core.filters import Filters
from geo_service.core.paths import SAMPLE_SLICE
from geo_service.store.boundaries import read_divisions
from tests.conftest import SampleStore

TRUTH = json.loads((SAMPLE_SLICE / "truth.json").read_text(encoding="utf-8"))
EMERGING = {"new_hot", "intensifying_hot", "consecutive_hot"}


@pytest.fixture
def engine(sample_store: SampleStore) -> Engine:
    """The shared store holding the committed sample slice."""
    return sample_store.engine


def _counties(engine: Engine, key: str) -> gpd.GeoSeries:
    table = read_divisions(engine).table
    return table.loc[[c["adcode"] for c in TRUTH[key]["counties"]], "geometry"]


def test_planted_hot_spots_are_gi_bin_3_and_quiet_counties_are_not(engine: Engine) -> None:
    layer = analytic_layer(engine, "hotspots", Filters(), {}).frame()
    centres = layer.geometry.representative_point()
    for spot in TRUTH["hot_spots"]:
        centre = shapely.Point(spot["lon"], spot["lat"])
        assert layer.loc[layer.geometry.contains(centre), "gi_bin"].tolist() == [3], spot["key"]
        # cells whose centre lies within half the planted radius of the planted centre
        near = centres.within(centre.buffer(spot["radius_km"] / 111 / 2))
        assert near.sum() >= 2, spot["key"]
        assert (layer.loc[near, "gi_bin"] == 3).mean() >= 0.75, spot["key"]
    quiet = shapely.union_all(_counties(engine, "quiet_counties").to_numpy())
    in_quiet = centres.within(quiet)
    assert in_quiet.sum() > 50
    assert (layer.loc[in_quiet, "gi_bin"] > 0).sum() == 0
    # hot cells are a small part of the province: the statistic is not flagging everything
    assert (layer["gi_bin"] == 3).mean() < 0.05


def test_worsening_counties_come_out_as_emerging(engine: Engine) -> None:
    layer = analytic_layer(engine, "emerging-hotspots", Filters(), {}).frame()
    table = read_divisions(engine).table
    counties = table[table["level"] == "county"]
    emerging = layer[layer["category"].isin(EMERGING)]
    has_emerging = counties.geometry.apply(lambda g: bool(emerging.geometry.intersects(g).any()))
    worsening = [c["adcode"] for c in TRUTH["worsening_counties"]["counties"]]
    assert has_emerging.loc[worsening].all()
    others = has_emerging.drop(index=worsening)
    assert others.mean() < 0.5  # emerging cells are specific to where things get worse
    quiet = [c["adcode"] for c in TRUTH["quiet_counties"]["counties"]]
    assert not has_emerging.loc[quiet].any()


def _typed_truth(engine: Engine) -> pd.DataFrame:
    """The cases and the inspections that found a problem, with their stored type, text
    and hint (violation type or problem category), beside the family the generator
    planted (truth_points.csv)."""
    truth = pd.read_csv(SAMPLE_SLICE / "truth_points.csv", dtype=str)
    queries = {
        "cases": "SELECT case_id AS record_id, description, violation_type AS hint, "
        "problem_type, problem_type_label FROM cases",
        "inspections": "SELECT inspection_id AS record_id, description, problem_category AS hint,"
        " problem_type, problem_type_label FROM inspections WHERE problem_found = 1",
    }
    frames = []
    with engine.connect() as conn:
        for kind, query in queries.items():
            frames.append(pd.read_sql(text(query), conn).assign(kind=kind))
    typed = pd.concat(frames, ignore_index=True)
    return truth.merge(typed, on=["kind", "record_id"])


def test_planted_problem_families_are_recovered_as_types(engine: Engine) -> None:
    """Types recover the planted families (ARI ≥ 0.75 over every case and problem
    finding), each named by its violation category and whole words of its texts, with the
    number of clusters chosen by stability inside the range (not at its top) and reported."""
    stored = analytic_layer(engine, "problem-types", Filters(), {})
    params = stored.parameters
    scores = {int(k): v for k, v in params["stability_by_k"].items()}
    assert params["k_criterion"] == K_CRITERION
    assert sorted(scores) == list(range(4, 31))
    best = max(scores.values())
    within = [k for k, v in scores.items() if v >= best - params["stability_tolerance"]]
    assert params["n_clusters"] == min(within) < 30  # the rule stated, and not the cap
    assert -1 <= params["silhouette"] <= 1  # the chosen clustering's, for information
    # the labelling step types the whole store as the unfiltered layer does
    labels = label_records(engine)
    assert labels["parameters"]["n_types"] == params["n_types"] == len(TRUTH["families"])
    merged = _typed_truth(engine)
    assert merged["problem_type"].notna().all() and (merged["problem_type"] >= 0).all()
    assert adjusted_rand_score(merged["family"], merged["problem_type"]) >= 0.75
    majority = merged.groupby("problem_type")["family"].agg(lambda s: s.value_counts().index[0])
    assert set(majority) == set(TRUTH["families"])
    with engine.connect() as conn:
        findings = pd.read_sql(
            text("SELECT problem_found, problem_type, problem_type_label FROM inspections"), conn
        )
    assert findings["problem_type"].notna().all()  # every finding typed
    no_problem = findings["problem_found"] == 0
    assert (findings.loc[no_problem, "problem_type_label"] == "未发现问题").all()
    dictionary, categories = tokenizer().FREQ, violation_categories()
    for entry in params["types"]:
        assert entry["category"] in categories  # every type maps to a category here
        phrases = entry["terms"][:3]
        assert entry["label"] == f"{categories[entry['category']].name}：{'、'.join(phrases)}"
        own = merged[merged["problem_type"] == entry["id"]]
        assert (own["problem_type_label"] == entry["label"]).all()
        runs = set()
        for text_of_record in [*own["description"], *own["hint"].dropna()]:
            cut = words(text_of_record)
            runs |= {"".join(cut[i : i + n]) for n in (1, 2) for i in range(len(cut))}
        for phrase in phrases:  # whole words or two of them side by side, never a fragment
            assert phrase in runs, (entry["label"], phrase)
            assert dictionary.get(phrase) or any(
                dictionary.get(phrase[:i]) and dictionary.get(phrase[i:])
                for i in range(1, len(phrase))
            ), (entry["label"], phrase)
    layer = stored.frame()
    assert {"adcode", "name", "records", "dominant_label", "mix", "status", "distinctive"} <= set(
        layer.columns
    )
    assert layer["records"].sum() > (merged["kind"] == "cases").sum()  # and problem findings
    # counties with too few records are never said to have a distinctive type
    few = layer[layer["records"] < 30]
    assert len(few) and (few["status"] == "too_few_records").all()
    assert (few["distinctive"] == "[]").all()
    # an industry planted to be mostly dust shows the dust type as over-represented
    construction = params["by_industry"]["E4710"]  # housing construction → dust
    dust_types = set(merged.loc[merged["family"] == "dust", "problem_type_label"])
    assert construction[0][0] in dust_types and construction[0][5] <= 0.05


def test_commonalities_find_the_planted_industries_and_test_only_with_support(
    engine: Engine,
) -> None:
    """Each industry planted with a family at more than twice its share overall (and with
    enough records) has that family's type over-represented; places under the minimum
    support are listed as too few, never tested; the types every place shares are given."""
    stored = analytic_layer(engine, "commonalities", Filters(), {})
    params, layer = stored.parameters, stored.frame()
    assert params["test"]["test"].startswith("one-sided Fisher exact")
    assert params["min_records"] == 30 and params["alpha"] == 0.05
    few = layer[layer["records"] < 30]
    assert len(few) > 0 and (few["status"] == "too_few_records").all()
    assert (few["n_distinctive"] == 0).all() and (few["lead_category"] == "too_few").all()
    tested = layer[layer["status"] == "tested"]
    assert (tested["records"] >= 30).all() and len(tested) == params["test"]["tested"]
    assert (tested["n_distinctive"] > 0).any()
    common = params["common"]
    assert common and all(c["groups_present"] == c["groups_tested"] for c in common)
    merged = _typed_truth(engine)
    label_of_family = merged.groupby("family")["problem_type_label"].agg(
        lambda s: s.value_counts().index[0]
    )
    overall = merged["family"].value_counts(normalize=True)
    industries = params["by_industry"]["industries"]
    planted = 0
    for industry in TRUTH["industries"]:
        family = industry["top_family"]
        entry = industries.get(industry["code"])
        if entry is None or entry["records"] < 50:
            continue
        if industry["problem_families"][family] < 2 * overall[family]:
            continue
        planted += 1
        found = {row[0] for row in entry["distinctive"]}
        assert label_of_family[family] in found, (industry["code"], family)
    assert planted >= 5
    by_city = analytic_layer(engine, "commonalities", Filters(), {"unit": "city"}).frame()
    assert set(by_city["level"]) == {"city"} and len(by_city) == 14


def test_clusters_profile_their_cases(engine: Engine) -> None:
    clusters = analytic_layer(engine, "clusters", Filters(), {}).frame()
    assert len(clusters) >= 10
    assert clusters["size"].sum() <= TRUTH["files"]["cases"]["rows"]
    from analytics.projection import EQUAL_AREA_CRS, lonlat_to_equal_area

    for spot in TRUTH["hot_spots"]:  # a cluster within the planted radius of each hot spot
        x, y = lonlat_to_equal_area([spot["lon"]], [spot["lat"]])
        distance_m = clusters.to_crs(EQUAL_AREA_CRS).distance(shapely.Point(x[0], y[0])).min()
        assert distance_m < spot["radius_km"] * 1000, spot["key"]
    assert clusters["top_violation_type"].str.startswith("[[").all()


def test_county_hot_spots_hold_the_planted_hot_spots_and_spare_quiet_counties(
    engine: Engine,
) -> None:
    layer = analytic_layer(engine, "hotspots", Filters(), {"unit": "county"}).frame()
    assert len(layer) == 111 and {"adcode", "name", "count", "gi_z", "gi_bin"} <= set(layer.columns)
    hot_counties = set(layer.loc[layer["gi_bin"] > 0, "adcode"])
    planted = {c for spot in TRUTH["hot_spots"] for c in spot["counties"]}
    assert planted & hot_counties  # the planted places sit in significant counties
    quiet = {c["adcode"] for c in TRUTH["quiet_counties"]["counties"]}
    assert not quiet & hot_counties


def test_space_time_clusters_are_bounded_in_time(engine: Engine) -> None:
    import pandas as pd

    spatial = analytic_layer(engine, "clusters", Filters(), {}).frame()
    bursts = analytic_layer(
        engine, "clusters", Filters(), {"eps_days": 60, "min_samples": 5}
    ).frame()
    assert len(bursts) > 0
    span = pd.to_datetime(bursts["last_date"]) - pd.to_datetime(bursts["first_date"])
    whole = pd.to_datetime(spatial["last_date"]) - pd.to_datetime(spatial["first_date"])
    assert span.median() < whole.median()  # clusters in space and time are shorter episodes
