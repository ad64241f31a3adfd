"""The README.md written beside a generated sample."""

from __future__ import annotations

from typing import Any


def _pairs(mapping: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in mapping.items())


def _table(rows: list[tuple[str, ...]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def _structure(doc: dict[str, Any]) -> str:
    spots = "\n".join(
        f"- `{h['key']}` {h['name']}: centre {h['lon']}, {h['lat']}, radius {h['radius_km']} km, "
        f"case rate ×{h['case_rate_multiplier']} ({', '.join(h['industries'])}); "
        f"{h['cases_inside']} cases inside, density ×{h['density_ratio']} the region's"
        for h in doc["hot_spots"]
    )
    quiet = ", ".join(f"{c['name']} ({c['adcode']})" for c in doc["quiet_counties"]["counties"])
    worse = ", ".join(f"{c['name']} ({c['adcode']})" for c in doc["worsening_counties"]["counties"])
    mult = doc["worsening_counties"]["year_multipliers"]
    worst = sorted(doc["industries"], key=lambda i: -i["case_rate_multiplier"])[:5]
    return f"""Hot spots (enterprises within the radius are penalised more often; each also
has an industrial park of its industries):

{spots}

Quiet counties (case rate ×{doc["quiet_counties"]["case_rate_multiplier"]}): {quiet}.

Worsening counties (case rate × {", ".join(f"{y}: {v}" for y, v in mult.items())}): {worse}.

Worst industries (case rate multiplier): {
        ", ".join(f"{i['code']} {i['name']} ×{i['case_rate_multiplier']}" for i in worst)
    }. Each industry's problems follow its own family mix (`industries[].problem_families`):
sugar, paper, starch → wastewater; construction → dust; electroplating, chemicals → hazardous
waste; power, steel, cement → monitoring fraud and air.
"""


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{share:.1%}"


def _signals(doc: dict[str, Any]) -> str:
    if "signals" not in doc:
        return ""
    ex, co, ro = (doc["signals"][k] for k in ("exceedances", "complaints", "inspectors"))
    return f"""
Planning signals follow the same risk as the cases (each enterprise's case rate and the
worsening counties' year weights), so they tell where cases are likely:

- `exceedances.csv` — online-monitoring exceedances of monitored units (key units all,
  special {ex["monitored_share"]["special"]:.0%}, general none): the industry's water or air
  pollutants, value {ex["value_over_limit"][0]}–{ex["value_over_limit"][1]} × the limit, at the
  outlet (WGS84 or CGCS2000) or by credit code only. {_percent(ex["hot_spot_share"])} fall on
  hot-spot enterprises ({_percent(ex["register_hot_spot_share"])} of the register),
  {_percent(ex["top_decile_rate_share"])} on the tenth of enterprises with the highest case rate.
- `complaints.csv` — public complaints: {1 - co["background_share"]:.0%} about enterprises
  drawn as the cases are (named, or located near them by a GCJ-02/BD-09/WGS84 point or an
  address), {co["background_share"]:.0%} background about any neighbourhood naming no one
  ({co["background_rows"]} rows). Of the risk-drawn ones {_percent(co["hot_spot_share"])} concern
  hot-spot enterprises, {_percent(co["top_decile_rate_share"])} the top tenth by case rate.
- `inspectors.csv` — every county's officers ({ro["rows"]}; {ro["inactive"]} not on duty),
  the same names as the inspections' 执法人员; {ro["with_exclusions"]} officers must not
  inspect 1–3 enterprises of their county ({ro["exclusions"]} exclusions, credit codes
  separated by {", ".join("a space" if x == " " else f"`{x}`" for x in ro["separators"])}).

These three files carry no rejected rows; `truth.json` → `signals` has the realised shares.
"""


def _linkage(doc: dict[str, Any]) -> str:
    if "linkage" not in doc:
        return ""
    lk = doc["linkage"]
    shares = ", ".join(f"{k} {v:.0%}" for k, v in lk["code_shares_on_coordinate_rows"].items())
    kinds = "; ".join(
        f"{k}: " + ", ".join(f"{e} {n}" for e, n in v["expected"].items() if n)
        for k, v in lk["kinds"].items()
    )
    bad = lk["invalid_credit_codes"]
    rejected = sum(b["outcome"] == "rejected" for b in bad)
    pr = lk["projects"]
    unapproved = ", ".join(f"{k} {v}" for k, v in pr.get("unapproved_counts", {}).items())
    return f"""
## Linkage (一源一档) and projects

Every record of cases, inspections, exceedances, complaints and projects belongs to a
register enterprise (background complaints excepted); `truth_links.csv` says which
(`kind`, `record_id`, `credit_code`, `expected` = link | ambiguous | none, `planted`,
`row_number`). Rows with coordinates always name the enterprise but state its credit
code only sometimes ({shares}); a few carry a hard name variant ({
        ", ".join(lk["hard_variants"])
    }) that only name, address and distance can link. {len(lk["twins"]["pairs"])} pairs of
register entries are twins: names that normalise alike, in one city, counties at least
{lk["twins"]["min_distance_km"]:g} km apart; a twin's record with coordinates is linked by
distance, one named only by name carries a city-level address and must stay unlinked
(ambiguous). {rejected} register rows have a wrong check character (rejected
`bad_credit_code`); {len(bad) - rejected} stated codes of cases and inspections are
invalid (`bad_check` or `bad_format`: flagged, the record is linked by its name).
Expected per file: {kinds}.

`projects.csv` (UTF-8) holds {pr.get("rows", 0)} construction projects (建设项目), about
{pr.get("per_enterprise", 0)} per register entry, with EIA approval (环评批复) and completion
acceptance (竣工环保验收) dates; the builder's credit code is stated on about
{pr.get("code_share", 0):.0%}. Every enterprise penalised for 未批先建 has a project whose
approval is dated after its cases, missing, or (a few) before them ({unapproved} cases);
`truth.json` → `linkage.projects` lists each case. `truth.json` →
`inspection_industries` counts accepted inspections per city, industry (first three
characters of the code) and year, by the true enterprise's industry.
"""


def readme_text(doc: dict[str, Any]) -> str:
    """README.md for a sample, from its truth document."""
    files = doc["files"]
    rows: list[tuple[str, ...]] = [("file", "rows", "encoding", "headers")]
    for key in (
        "enterprises",
        "cases",
        "inspections",
        "exceedances",
        "complaints",
        "inspectors",
        "projects",
    ):
        if key not in files:
            continue
        f = files[key]
        rows.append((f"`{f['path']}`", str(f["rows"]), f["encoding"], ", ".join(f["headers"])))
    mess = doc["mess"]
    rejects = {k: _pairs(v.get("reject_counts", {})) for k, v in mess["files"].items()}
    provinces = doc.get("provinces")
    where, flag = "the bundled Guangxi boundaries", ""
    if provinces:
        where = "the bundled national boundaries, provinces " + "、".join(provinces.values())
        flag = f" \\\n    --provinces {','.join(provinces)}"
    return f"""# Synthetic enforcement sample (seed {doc["seed"]})

Generated over {where} by

```
geo-service sample --seed {doc["seed"]} --enterprises {files["enterprises"]["rows"]} \\
    --cases {files["cases"]["rows"]} --inspections {files["inspections"]["rows"]} --out DIR{flag}
```

Everything is invented: names, credit codes (valid GB 32100 check digits), addresses and
events. The same command gives the same bytes.

## Files

{_table(rows)}

- `truth.json` — the planted structure and the dirt, with realised counts (see below).
- `truth_points.csv` — one row per accepted record: `kind`, `record_id` (credit code, case or
  inspection id), `row_number` (header = 1), true WGS84 `lon`/`lat` (before any offset or
  dirt), true county `adcode`, planted problem `family`, `locate_by` (the location form:
  {", ".join(mess["location_forms"])}), `expected_adcode`/`expected_precision` (what geocoding
  can reach: the county, or the city for city-only addresses; `point` otherwise),
  `source_crs` and `flags` (`swapped`, `name_variant=…`, `near_enterprise`).
- `expected_rejects.csv` — `file`, `row_number`, `reason`: every row the ingest must reject,
  each with exactly one defect. Rejects per file: {rejects["cases"]} (cases),
  {rejects["inspections"]} (inspections).

Row numbers count CSV records with the header as row 1; no field holds a line break.

## Planted structure

{_structure(doc)}{_signals(doc)}{_linkage(doc)}
## Dirt

- Coordinates with 6 decimals in WGS84, GCJ-02, BD-09 or CGCS2000 per row (shares
  {_pairs(mess["crs_shares"])}), labelled {
        "; ".join(f"{k}: {', '.join(v)}" for k, v in mess["crs_labels"].items())
    }.
- Swapped longitude/latitude in a few rows (listed in `truth.json` under `mess.files.*.swapped`).
- Rows located only by credit code, only by the register name or a variant of it
  ({", ".join(mess["name_variants"])}: 有限公司↔有限责任公司, （）→(), an inserted space, 广西
  prefix added or dropped), or only by an address naming the county (with or without
  province and city) or only the city; such rows carry no adcode.
- Dates as 2023-05-04, 2023/5/4, 2023年5月4日 or 20230504; fines as 50000, 50,000元 or 5万元.
- About {mess["reject_rate"]:.2%} of cases and inspections carry one defect: missing id or
  date, impossible or out-of-range date, bad coordinates (not a number, latitude out of
  range, a point in Beijing), an id repeated from an earlier row (the later one is the
  reject), a bad fine, no usable location at all, or a surplus field.

## truth.json

Top-level keys: `seed`, `files`, `years`, `base_year_weights`, `hot_spots`, `quiet_counties`,
`worsening_counties`, `industries`, `category_multipliers`, `category_counts`, `families`,
`problem_categories`, `violation_kinds`, `inspections`, `mess`, `signals`, `linkage`,
`inspection_industries`.
"""
