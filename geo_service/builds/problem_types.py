"""Problem types found in case and finding texts: the labelling step and the layer.

- **The labelling step** (:func:`label_records`, named :data:`LABELS_STEP`) types the
  texts of the whole store with the default parameters and writes each case's and
  problem-finding inspection's ``problem_type`` and ``problem_type_label``, so that a
  type means the same thing everywhere. Its provenance (parameters, the types found with
  their violation categories and sub-types, the data version) is kept as a build of its
  own; it runs again only after an ingest. Layers that read the labels declare it
  (:mod:`geo_service.builds.registry`), the ``commonalities`` layer among them.
- **The ``problem-types`` layer** types the texts its filters select and gives, per
  county, the mix of types and those over-represented there, tested
  (:mod:`analytics.commonalities`: Fisher's exact test with FDR, counties with fewer
  than :data:`MIN_RECORDS` records not tested). It writes nothing.
"""

from __future__ import annotations

import json
from typing import Any, Final

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Engine, bindparam, update

from analytics.commonalities import Differences, commonalities
from analytics.problem_types import ProblemTypeError, ProblemTypes, find_problem_types
from analytics.segmenter import violation_categories
from geo_service.builds.inputs import Inputs
from geo_service.builds.parameters import ProblemTypeParameters
from geo_service.core.filters import Filters
from geo_service.store.boundaries import read_divisions
from geo_service.store.layer_builds import StoredLayer, load_layer, save_layer
from geo_service.store.models import Inspection, PenaltyCase

# problem_type: the labelling step's label, which the unfiltered layer reads back
_CASES = ["id", "description", "violation_type", "adcode", "industry_code", "problem_type"]
_FINDINGS = [
    "id",
    "description",
    "problem_category",
    "problem_found",
    "adcode",
    "industry_code",
    "problem_type",
]
#: Records a county (or an industry) needs before the layer says which types are
#: over-represented there; the test's significance level (FDR).
MIN_RECORDS: Final = 30
ALPHA: Final = 0.05


def _texts(inputs: Inputs) -> pd.DataFrame:
    """Every case text and every inspection text that records a problem, with hints."""
    cases = inputs.frame("cases", _CASES).rename(columns={"violation_type": "hint"})
    findings = inputs.frame("inspections", _FINDINGS)
    found = findings["problem_found"].astype("boolean").fillna(False).to_numpy(bool)
    findings = findings[found].drop(columns="problem_found")
    findings = findings.rename(columns={"problem_category": "hint"})
    frame = pd.concat(
        [cases.assign(kind="cases"), findings.assign(kind="inspections")], ignore_index=True
    )
    return frame[frame["description"].fillna("").str.strip() != ""].reset_index(drop=True)


#: The type of an inspection that found no problem (or has no text to type).
NO_PROBLEM = (-1, "未发现问题")


def _write_back(engine: Engine, frame: pd.DataFrame, types: ProblemTypes) -> None:
    """Store each record's type id and label (whole-province typing only).

    Inspections that found no problem, and records without a text, get
    :data:`NO_PROBLEM`, so that every case and finding carries a type.
    """
    with engine.begin() as conn:
        for model in (PenaltyCase, Inspection):
            conn.execute(
                update(model).values(problem_type=NO_PROBLEM[0], problem_type_label=NO_PROBLEM[1])
            )
        for kind, model in (("cases", PenaltyCase), ("inspections", Inspection)):
            rows = (frame["kind"] == kind).to_numpy()
            ids, labels = frame.loc[rows, "id"].to_numpy(), types.labels[rows]
            values = [
                {"row_id": int(i), "t": int(t), "label": types.type_labels[int(t)]}
                for i, t in zip(ids, labels, strict=True)
            ]
            if values:
                stmt = update(model).where(model.id == bindparam("row_id"))
                stmt = stmt.values(
                    problem_type=bindparam("t"), problem_type_label=bindparam("label")
                )
                conn.execute(stmt.execution_options(synchronize_session=False), values)


def _type(
    frame: pd.DataFrame, parameters: ProblemTypeParameters
) -> tuple[pd.DataFrame, ProblemTypes]:
    hints = [h if isinstance(h, str) and h.strip() else None for h in frame["hint"]]
    lo, hi = parameters.n_clusters_range
    types = find_problem_types(
        frame["description"].tolist(),
        hints=hints,
        n_clusters=parameters.n_clusters,
        n_clusters_range=(lo, hi),
        seed=parameters.seed,
    )
    return frame, types


#: The name of the labelling step (what layers that read the labels declare they need).
LABELS_STEP = "problem-type-labels"
_JSON = "application/json"


def label_records(engine: Engine) -> dict[str, Any]:
    """Type the whole store's texts and label every case and finding, unless the labels are
    current (made since the last ingest); the provenance of the labels in the store."""
    return _labels_build(engine).provenance()


def _labels_build(engine: Engine) -> StoredLayer:
    """The current build of the labelling step, made now if missing: its payload is what
    the typing found (the types, their quality and parameters), or ``{}``."""
    parameters = ProblemTypeParameters().as_dict()
    stored = load_layer(engine, LABELS_STEP, {}, parameters)
    if stored is not None:
        return stored
    found: dict[str, Any] = {}
    try:
        frame, types = _type(_texts(Inputs(engine, Filters())), ProblemTypeParameters())
    except ProblemTypeError as exc:  # too few texts to type: the layers go on without labels
        details: dict[str, Any] = {"n_types": 0, "not_typed": str(exc)}
    else:
        _write_back(engine, frame, types)
        details = {**types.parameters, "n_types": types.n_types, "records": len(frame)}
        found = {"types": catalogue(types), "quality": types.quality}
        found["parameters"] = types.parameters
    payload = json.dumps(found, ensure_ascii=False).encode("utf-8")
    return save_layer(
        engine,
        LABELS_STEP,
        {},
        parameters,
        payload,
        media_type=_JSON,
        n_features=len(found.get("types", [])),
        details=details,
    )


def labels_catalogue(engine: Engine) -> list[dict[str, Any]]:
    """The types of the current labelling step (:func:`catalogue`), made now if missing;
    empty when the store has too few texts to type."""
    found = json.loads(_labels_build(engine).payload or b"{}")
    return list(found.get("types", [])) if isinstance(found, dict) else []


def _labelled(engine: Engine, frame: pd.DataFrame) -> ProblemTypes | None:
    """The labelling step's typing of the whole store's texts ``frame`` (in their order),
    read back from the records' labels and the step's build; None when the step is not
    current (it is not run from here: the layer writes nothing), found no types, or was
    stored before it kept its types' categories."""
    stored = load_layer(engine, LABELS_STEP, {}, ProblemTypeParameters().as_dict())
    found = json.loads(stored.payload) if stored is not None else {}
    if not isinstance(found, dict) or not found or frame["problem_type"].isna().any():
        return None
    types = found["types"]
    if not all("category" in t for t in types):
        return None
    return ProblemTypes(
        labels=frame["problem_type"].to_numpy(np.int64),
        n_types=len(types),
        type_labels=[t["label"] for t in types],
        top_terms=[t["terms"] for t in types],
        sizes=[t["size"] for t in types],
        quality=float(found["quality"]),
        parameters=found["parameters"],
        categories=[t["category"] for t in types],
        subtypes=[t["subtypes"] for t in types],
    )


def catalogue(types: ProblemTypes) -> list[dict[str, Any]]:
    """The types as the builds keep and serve them: id, label, the violation category
    (code and name, None where none fits), the characteristic phrases, size, sub-types."""
    names = violation_categories()
    return [
        {
            "id": i,
            "label": label,
            "category": category,
            "category_name": names[category].name if category else None,
            "terms": terms,
            "size": size,
            "subtypes": subtypes,
        }
        for i, (label, category, terms, size, subtypes) in enumerate(
            zip(
                types.type_labels,
                types.categories,
                types.top_terms,
                types.sizes,
                types.subtypes,
                strict=True,
            )
        )
    ]


def distinctive_lists(found: Differences, label_of: dict[int, str]) -> dict[str, list[list[Any]]]:
    """Per tested group, its over-represented types, most significant first:
    ``[label, count, share, share elsewhere, ratio, q]``."""
    out: dict[str, list[list[Any]]] = {}
    for row in found.distinctive().to_dict("records"):
        ratio = float(row["ratio"])
        out.setdefault(str(row["group"]), []).append(
            [
                label_of[int(row["type"])],
                int(row["count"]),
                round(float(row["share"]), 4),
                round(float(row["share_elsewhere"]), 4),
                round(ratio, 2) if np.isfinite(ratio) else None,
                float(f"{row['q']:.3g}"),
            ]
        )
    return out


def _county_row(
    adcode: str, counts: pd.Series, status: str, notable: list[list[Any]], types: ProblemTypes
) -> dict[str, Any]:
    ids, values = counts.index.to_numpy(np.int64), counts.to_numpy(np.float64)
    shares = values / values.sum()
    dominant = int(ids[shares.argmax()])
    mix = {
        types.type_labels[t]: round(float(s), 4) for t, s in zip(ids, shares, strict=True) if s > 0
    }
    return {
        "adcode": adcode,
        "dominant_type": dominant,
        "dominant_label": types.type_labels[dominant],
        "dominant_share": float(shares.max()),
        "mix": json.dumps(mix, ensure_ascii=False),
        "status": status,
        "distinctive": json.dumps(notable, ensure_ascii=False),
    }


def _industry_mix(frame: pd.DataFrame, types: ProblemTypes) -> dict[str, list[list[Any]]]:
    """Per GB/T 4754 class with enough records: its over-represented types, tested."""
    industry = frame["industry_code"].fillna("").astype(str).to_numpy()
    found = commonalities(types.labels, industry, min_records=MIN_RECORDS, alpha=ALPHA)
    return distinctive_lists(found, dict(enumerate(types.type_labels)))


def problem_types_layer(inputs: Inputs, parameters: ProblemTypeParameters) -> gpd.GeoDataFrame:
    """Problem types and, per county, their mix and the types over-represented there.

    Over the whole store with the default parameters, when the labelling step is current
    (``geo-service build`` runs it first), its typing is read back, not computed again."""
    frame = _texts(inputs)
    whole = not inputs.filters.as_dict() and parameters.as_dict() == parameters.defaults()
    labelled = _labelled(inputs.engine, frame) if whole else None
    frame, types = (frame, labelled) if labelled is not None else _type(frame, parameters)
    counties = frame["adcode"].fillna("").astype(str).to_numpy()
    found = commonalities(types.labels, counties, min_records=MIN_RECORDS, alpha=ALPHA)
    notable = distinctive_lists(found, dict(enumerate(types.type_labels)))
    located = counties != ""
    counts = pd.crosstab(counties[located], types.labels[located])
    groups = found.groups
    status = dict(zip(groups["group"].astype(str), groups["status"].astype(str), strict=True))
    rows = [
        _county_row(str(a), c[c > 0], status[str(a)], notable.get(str(a), []), types)
        for a, c in counts.iterrows()
    ]
    table = read_divisions(inputs.engine).table
    layer = gpd.GeoDataFrame(
        rows, geometry=[table.loc[r["adcode"], "geometry"] for r in rows], crs="EPSG:4326"
    )
    layer.insert(1, "name", [table.loc[r["adcode"], "name"] for r in rows])
    layer.insert(2, "records", counts.sum(axis=1).reindex(layer["adcode"]).to_numpy(np.int64))
    layer.attrs["parameters"] = {
        **types.parameters,
        "n_types": types.n_types,
        "silhouette": round(types.quality, 4),
        "types": catalogue(types),
        "distinctive_test": found.parameters,
        "by_industry": _industry_mix(frame, types),
    }
    return layer
