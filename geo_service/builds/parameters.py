"""Typed parameters of the analytic layers: one frozen dataclass per layer.

Each field carries its default and, when a request may set it, its bound (a
:class:`Choice` or a :class:`Range`) in the field's metadata. A request's values are
parsed once, by :meth:`LayerParameters.parse`, the same way for items, tiles,
downloads and the command line; recipes read typed fields and never cast.
:meth:`LayerParameters.as_dict` is the JSON form a build is stored and found by.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Self

from analytics.density import MIN_BANDWIDTH_CELLS
from analytics.risk_defaults import DEFAULT_RISK_WEIGHTS, DEFAULT_TIERS
from geo_service.core.errors import BadFilterError


@dataclass(frozen=True)
class Choice:
    """A parameter that takes one of a few words."""

    values: tuple[str, ...]

    def parse(self, layer: str, name: str, text: str) -> str:
        if text not in self.values:
            raise BadFilterError(f"{layer} {name} must be one of {', '.join(self.values)}")
        return text

    def text(self) -> str:
        """The bound as people read it: ``a|b|c``."""
        return "|".join(self.values)


@dataclass(frozen=True)
class Range:
    """A number (or ISO date) between two bounds, inclusive."""

    kind: type
    low: Any
    high: Any

    def parse(self, layer: str, name: str, text: str) -> Any:
        if self.kind is dt.date:
            return self._date(layer, name, text)
        try:
            if self.kind is int and float(text).is_integer():
                value = int(float(text))
            else:
                value = self.kind(text)
        except ValueError:
            raise BadFilterError(f"{layer} {name} {text!r} is not a number") from None
        if not self.low <= value <= self.high:
            raise BadFilterError(f"{layer} {name} must be within {self.text()}")
        return value

    def _date(self, layer: str, name: str, text: str) -> dt.date:
        try:
            value = dt.date.fromisoformat(text)
        except ValueError:
            raise BadFilterError(f"{layer} {name} {text!r} is not a date (YYYY-MM-DD)") from None
        if not self.low <= value <= self.high:
            raise BadFilterError(f"{layer} {name} must be within {self.text()}")
        return value

    def text(self) -> str:
        """The bound as people read it: ``low…high``."""
        if self.kind is dt.date:
            return f"{self.low}…{self.high}"
        return f"{self.low:g}…{self.high:g}"


Bound = Choice | Range


def settable(default: Any, bound: Bound) -> Any:
    """A field a request may set, within ``bound``."""
    return field(default=default, metadata={"bound": bound})


def _typed(value: Any, bound: Bound | None) -> Any:
    """A value of a program's mapping in its field's type (JSON lists and ISO dates)."""
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, str) and isinstance(bound, Range) and bound.kind is dt.date:
        return dt.date.fromisoformat(value)
    return value


def _json(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _json(v) for k, v in value.items()}
    return value


def refuse_unknown(
    layer: str, given: Collection[str], accepted: Collection[str], also: Collection[str]
) -> None:
    """:class:`BadFilterError` for the first name ``given`` that ``layer`` does not take:
    neither one of its parameters (``accepted``) nor one of ``also`` (the filters)."""
    unknown = [n for n in given if n not in accepted and n not in also]
    if unknown:
        takes = ", ".join([*sorted(also), *accepted]) or "no parameters"
        raise BadFilterError(
            f"{unknown[0]!r} is not a parameter of the {layer} layer; it takes {takes}"
        )


@dataclass(frozen=True)
class LayerParameters:
    """The parameters of one analytic layer (subclasses add the fields)."""

    layer: ClassVar[str] = ""
    #: The names a request gave (the public view checks them); not part of the build key.
    given: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    @classmethod
    def bounds(cls) -> dict[str, Bound]:
        """What a request may set, and within which bound."""
        return _shape(cls).bounds

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every parameter at its default, JSON-ready (made once per class)."""
        found = _DEFAULTS.get(cls)
        if found is None:
            found = _DEFAULTS[cls] = cls().as_dict()
        return dict(found)

    @classmethod
    def parse(cls, given: Mapping[str, Any], also: Collection[str] | None = None) -> Self:
        """The parameters among ``given`` (query parameters, CLI options), checked.

        With ``also`` (the filters, which a request may carry too) a name that is neither
        is refused; without, other names are left alone (property filters). A bad value
        raises :class:`BadFilterError` with the allowed choices or range.
        """
        bounds = cls.bounds()
        if also is not None:
            refuse_unknown(cls.layer, given, bounds, also)
        values: dict[str, Any] = {}
        for name, bound in bounds.items():
            if name in given and given[name] not in ("", None):
                values[name] = bound.parse(cls.layer, name, str(given[name]))
        parsed = cls(**values, given=frozenset(values))
        parsed.check()
        return parsed

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Self:
        """Parameters set by the program (a build's variants, a notebook, a test): any field,
        unchecked against the request bounds; an unknown name is a :class:`BadFilterError`."""
        unknown = sorted(set(values) - set(_shape(cls).names))
        if unknown:
            raise BadFilterError(f"{unknown[0]!r} is not a parameter of the {cls.layer} layer")
        bounds = cls.bounds()
        fixed = {k: _typed(v, bounds.get(k)) for k, v in values.items()}
        return cls(**fixed, given=frozenset(values))

    def check(self) -> None:
        """Checks across fields (a request's values only); none by default."""

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: what a build is stored and found by, and its provenance."""
        return {name: _json(getattr(self, name)) for name in _shape(type(self)).names}

    def asked(self) -> dict[str, Any]:
        """The parameters the request (or program) gave, JSON-ready: a file name and the
        audit log say what was asked, not the defaults."""
        return {k: _json(getattr(self, k)) for k in _shape(type(self)).names if k in self.given}

    def with_settings(self, weights: Mapping[str, float], tiers: tuple[float, ...]) -> Self:
        """These parameters with the settings' risk weights and tiers (risk layers only)."""
        return self


@dataclass(frozen=True)
class _Shape:
    """A parameter class's fields in their order (``given`` is not one) and its bounds."""

    names: tuple[str, ...]
    bounds: dict[str, Bound]


#: Read once per class: the cached tile path parses the parameters of every request.
_SHAPES: dict[type, _Shape] = {}
_DEFAULTS: dict[type, dict[str, Any]] = {}


def _shape(cls: type) -> _Shape:
    shape = _SHAPES.get(cls)
    if shape is None:
        fields = dataclasses.fields(cls)
        names = tuple(f.name for f in fields if f.name != "given")
        bounds = {f.name: f.metadata["bound"] for f in fields if "bound" in f.metadata}
        shape = _SHAPES[cls] = _Shape(names, bounds)
    return shape


@dataclass(frozen=True)
class HexagonParameters(LayerParameters):
    layer: ClassVar[str] = "hexagons"
    resolution: int = settable(8, Range(int, 5, 10))


@dataclass(frozen=True)
class HotspotParameters(LayerParameters):
    layer: ClassVar[str] = "hotspots"
    unit: str = settable("h3", Choice(("h3", "county")))
    resolution: int = settable(6, Range(int, 5, 8))
    k: int = settable(1, Range(int, 1, 3))
    permutations: int = settable(0, Range(int, 0, 999))
    seed: int = settable(0, Range(int, 0, 2**31 - 1))
    fdr: bool = True


@dataclass(frozen=True)
class LocalMoranParameters(LayerParameters):
    """Cluster and outlier analysis, as ArcGIS's (row-standardised contiguity, FDR) but with
    9999 permutations: the pseudo p is never below 1/(P + 1), and a Benjamini–Hochberg
    cut-off over thousands of cells calls k of them only at p ≤ k·alpha/cells (with 999
    the sample's province at resolution 6 has no cluster at all, with 9999 twenty-odd
    cells)."""

    layer: ClassVar[str] = "local-moran"
    unit: str = settable("h3", Choice(("h3", "county")))
    resolution: int = settable(6, Range(int, 5, 8))
    k: int = settable(1, Range(int, 1, 3))
    permutations: int = settable(9999, Range(int, 0, 99_999))
    seed: int = settable(0, Range(int, 0, 2**31 - 1))
    alpha: float = settable(0.05, Range(float, 0.001, 0.1))
    fdr: bool = True


@dataclass(frozen=True)
class KdeParameters(LayerParameters):
    layer: ClassVar[str] = "kde"
    kernel: str = settable("quartic", Choice(("quartic", "epanechnikov", "gaussian")))
    bandwidth_m: float | None = settable(None, Range(float, 100, 100_000))
    cell_m: float | None = settable(None, Range(float, 250, 10_000))
    weight: str = settable("none", Choice(("none", "penalty_amount")))
    ratio_to: str | None = settable(None, Choice(("enterprises",)))

    def check(self) -> None:
        bandwidth, cell = self.bandwidth_m, self.cell_m
        # narrower kernels would be sampled at a handful of cell centres (analytics.density)
        if bandwidth is not None and cell is not None and bandwidth < MIN_BANDWIDTH_CELLS * cell:
            raise BadFilterError(
                f"kde bandwidth_m must be at least {MIN_BANDWIDTH_CELLS:g} × cell_m "
                f"({MIN_BANDWIDTH_CELLS * cell:g} m for cell_m {cell:g} m) "
                f"(核密度带宽须至少为像元大小的 {MIN_BANDWIDTH_CELLS:g} 倍)"
            )
        if bandwidth is not None and cell is not None and bandwidth > 200 * cell:
            raise BadFilterError(
                "kde bandwidth_m must be at most 200 × cell_m (核密度带宽须不超过像元大小的 200 倍)"
            )
        # a bandwidth alone gets cells of a twentieth of it: keep those at 250 m or more
        if bandwidth is not None and cell is None and bandwidth / 20 < 250:
            raise BadFilterError("give cell_m (≥ 250 m) with a bandwidth_m below 5000 m")


@dataclass(frozen=True)
class ProblemTypeParameters(LayerParameters):
    """Word clusters (their number chosen by stability in the range unless given) grouped
    into types by violation category (:mod:`analytics.problem_types`)."""

    layer: ClassVar[str] = "problem-types"
    n_clusters: int | None = settable(None, Range(int, 2, 60))
    n_clusters_range: tuple[int, int] = (4, 30)
    seed: int = settable(0, Range(int, 0, 2**31 - 1))


@dataclass(frozen=True)
class CommonalityParameters(LayerParameters):
    """Commonalities and differences of the problem types per county or city: places with
    fewer than ``min_records`` typed records are listed, not tested; over-representation
    is Fisher's exact test with Benjamini–Hochberg FDR at ``alpha``."""

    layer: ClassVar[str] = "commonalities"
    unit: str = settable("county", Choice(("county", "city")))
    min_records: int = settable(30, Range(int, 10, 10_000))
    alpha: float = settable(0.05, Range(float, 0.001, 0.2))


@dataclass(frozen=True)
class ClusterParameters(LayerParameters):
    layer: ClassVar[str] = "clusters"
    method: str = settable("dbscan", Choice(("dbscan", "hdbscan")))
    eps_m: float = settable(1000.0, Range(float, 50, 20_000))
    min_samples: int = settable(10, Range(int, 2, 1000))
    eps_days: float | None = settable(None, Range(float, 1, 3650))


@dataclass(frozen=True)
class EmergingParameters(LayerParameters):
    layer: ClassVar[str] = "emerging-hotspots"
    resolution: int = settable(6, Range(int, 5, 7))
    step: str = settable("quarter", Choice(("quarter", "month")))
    k: int = 1
    neighborhood_time_steps: int = 1
    alpha: float = 0.05
    fdr: bool = True


#: The days risk may be scored at.
AS_OF: Range = Range(dt.date, dt.date(2000, 1, 1), dt.date(2099, 12, 31))


#: The analytics' risk weights as parameters: sorted by name, as floats.
_WEIGHTS: Final = {k: float(v) for k, v in sorted(DEFAULT_RISK_WEIGHTS.items())}


def _weights() -> dict[str, float]:
    return dict(_WEIGHTS)


@dataclass(frozen=True)
class _RiskSettings(LayerParameters):
    """The settings' risk weights and tier quantiles, entered as parameters so that a
    change of settings makes new builds and the provenance says which were used."""

    weights: Mapping[str, float] = field(default_factory=_weights)
    tiers: tuple[float, ...] = tuple(float(t) for t in DEFAULT_TIERS)

    def with_settings(self, weights: Mapping[str, float], tiers: tuple[float, ...]) -> Self:
        return dataclasses.replace(
            self,
            weights={k: float(v) for k, v in sorted(weights.items())},
            tiers=tuple(float(t) for t in tiers),
        )


@dataclass(frozen=True)
class RiskParameters(_RiskSettings):
    layer: ClassVar[str] = "risk"
    unit: str = settable("cell", Choice(("cell", "enterprise")))
    resolution: int = settable(7, Range(int, 5, 8))
    as_of: dt.date | None = settable(None, AS_OF)
    window_years: int = settable(3, Range(int, 1, 5))


@dataclass(frozen=True)
class PriorityAreaParameters(_RiskSettings):
    layer: ClassVar[str] = "priority-areas"
    resolution: int = settable(7, Range(int, 5, 8))
    as_of: dt.date | None = settable(None, AS_OF)
    window_years: int = settable(3, Range(int, 1, 5))
    min_cells: int = settable(1, Range(int, 1, 100))
