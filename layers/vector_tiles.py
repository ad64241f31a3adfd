"""Mapbox Vector Tile encoding (MVT 2.1) with numpy: commands, zigzag deltas, varints.

Geometries become flat arrays of single-part pieces (:class:`Parts`); a whole
layer's command integers, zigzag deltas, tags and feature headers are then
written as one stream of varints in a few array operations, and each distinct
property value is encoded once (:class:`ValueTable`). Polygon rings are
oriented as the specification requires: exterior rings have a positive area
by the surveyor's formula in tile units (x right, y down: clockwise on screen),
holes a negative one.

Examples
--------
>>> zigzag(np.array([0, -1, 1, -2]))
array([0, 1, 2, 3], dtype=uint64)
>>> varints(np.array([1, 300], dtype=np.uint64)).hex()
'01ac02'
"""

from __future__ import annotations

import datetime as dt
import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike, NDArray

EXTENT: Final = 4096  # tile units per tile side
_POINT, _LINE, _POLYGON = 1, 2, 3
_MOVE_TO, _LINE_TO, _CLOSE_PATH = 1, 2, 7

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


# ---------------------------------------------------------------- protobuf pieces


def zigzag(values: ArrayLike) -> NDArray[np.uint64]:
    """Zigzag-encode signed integers (0, −1, 1, −2 … → 0, 1, 2, 3 …)."""
    v = np.asarray(values, dtype=np.int64)
    return ((v << 1) ^ (v >> 63)).astype(np.uint64)


def varints(values: NDArray[np.uint64]) -> bytes:
    """Protobuf base-128 varints of unsigned integers, concatenated."""
    v = np.asarray(values, dtype=np.uint64)
    sizes = _varint_sizes(v)
    ends = np.cumsum(sizes, dtype=np.int64)
    starts = ends - sizes
    out = np.empty(int(ends[-1]) if len(ends) else 0, dtype=np.uint8)
    low = np.uint64(0x7F)
    more = np.where(sizes > 1, np.uint8(0x80), np.uint8(0))
    out[starts] = (v & low).astype(np.uint8) | more
    two = np.flatnonzero(sizes == 2)  # most values take one byte, many others two
    out[starts[two] + 1] = (v[two] >> np.uint64(7)).astype(np.uint8)
    many = np.flatnonzero(sizes > 2)
    vm, sm, pm = v[many], sizes[many], starts[many]
    for k in range(1, int(sm.max(initial=0))):
        has = sm > k
        part = ((vm[has] >> np.uint64(7 * k)) & low).astype(np.uint8)
        out[pm[has] + k] = part | np.where(sm[has] > k + 1, np.uint8(0x80), np.uint8(0))
    return out.tobytes()


def _varint_sizes(values: NDArray[np.uint64]) -> NDArray[np.uint8]:
    """Bytes of each value's varint."""
    sizes = np.where(values < np.uint64(1 << 7), np.uint8(1), np.uint8(2))
    big = np.flatnonzero(values >= np.uint64(1 << 14))
    vb = values[big]
    sb = np.full(big.size, 3, dtype=np.uint8)
    for k in range(3, 10):
        sb += vb >= np.uint64(1 << (7 * k))
    sizes[big] = sb
    return sizes


def _varint(n: int) -> bytes:
    """One varint (scalar path: no arrays for the many short fields)."""
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return bytes([tag << 3 | 2]) + _varint(len(payload)) + payload


# ---------------------------------------------------------------- property values


def plain_value(value: Any) -> Any:
    """A property value as JSON/MVT knows it: None, bool, int, float, or str."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _value_message(value: Any) -> bytes | None:
    """The MVT ``Value`` message of a plain value (None for a missing value)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return b"\x38" + (b"\x01" if value else b"\x00")  # bool_value
    if isinstance(value, int):
        if value < 0:
            return b"\x30" + _varint((value << 1) ^ (value >> 63))  # sint_value
        return (b"\x20" if value < 2**63 else b"\x28") + _varint(value)  # int / uint
    if isinstance(value, float):
        return b"\x19" + struct.pack("<d", value)  # double_value
    return _field(1, str(value).encode("utf-8"))  # string_value


_FIELD_TYPES = {bool: "Boolean", int: "Number", float: "Number", str: "String"}


@dataclass(frozen=True)
class ValueTable:
    """Properties as indices into one deduplicated table of encoded MVT values.

    ``codes[i, j]`` is the value of feature ``i`` for key ``j`` (−1: missing);
    ``fields[k]`` is value ``k`` as a complete ``Layer.values`` field.
    """

    keys: tuple[str, ...]
    codes: NDArray[np.int32]
    fields: NDArray[np.object_]
    types: dict[str, str]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> ValueTable:
        """Factorize each column once and encode each distinct value once."""
        index: dict[bytes, int] = {}
        codes = np.full((len(frame), len(frame.columns)), -1, dtype=np.int32)
        types: dict[str, str] = {}
        for j, name in enumerate(frame.columns):
            column = frame[name]
            if column.dtype == object:
                column = column.map(plain_value)
            local, uniques = pd.factorize(column, use_na_sentinel=True)
            plain = [plain_value(u) for u in uniques]
            remap = np.full(len(plain) + 1, -1, dtype=np.int32)
            for k, value in enumerate(plain):
                message = _value_message(value)
                if message is not None:
                    remap[k] = index.setdefault(_field(4, message), len(index))
                    types.setdefault(str(name), _FIELD_TYPES.get(type(value), "String"))
            codes[:, j] = remap[local]  # −1 (missing) picks the sentinel at the end
            types.setdefault(str(name), "String")
        fields = np.empty(len(index), dtype=object)
        fields[:] = list(index)
        return cls(tuple(str(c) for c in frame.columns), codes, fields, types)


# ---------------------------------------------------------------- flat geometry parts


def _ranges(starts: IntArray, ends: IntArray) -> IntArray:
    """Concatenated ``arange(s, e)`` for each pair."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return shift + np.arange(total, dtype=np.int64)


@dataclass(frozen=True)
class Parts:
    """Single-part pieces of one kind (points, lines or polygon rings) as flat arrays.

    Pieces are ordered by feature; a polygon's exterior ring comes before its holes.
    """

    kind: int
    coords: FloatArray
    offsets: IntArray  # piece k is coords[offsets[k]:offsets[k + 1]]
    feature: IntArray
    exterior: NDArray[np.bool_]

    def take(self, pieces: IntArray) -> Parts:
        """The pieces at these positions."""
        idx = _ranges(self.offsets[pieces], self.offsets[pieces + 1])
        lengths = self.offsets[pieces + 1] - self.offsets[pieces]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return Parts(
            self.kind, self.coords[idx], offsets, self.feature[pieces], self.exterior[pieces]
        )

    def of_features(self, features: IntArray) -> Parts:
        """The pieces of these features (sorted feature indices)."""
        first = np.searchsorted(self.feature, features, side="left")
        last = np.searchsorted(self.feature, features, side="right")
        return self.take(_ranges(first.astype(np.int64), last.astype(np.int64)))


def _single_parts(geoms: NDArray[np.object_], features: IntArray) -> tuple[Any, IntArray]:
    """Non-empty single-part geometries and the feature each belongs to."""
    parts, index = shapely.get_parts(geoms, return_index=True)
    features = features[index]
    nested = shapely.get_type_id(parts) >= 4  # multi-parts inside geometry collections
    while nested.any():
        sub, sub_index = shapely.get_parts(parts[nested], return_index=True)
        features = np.concatenate([features[~nested], features[nested][sub_index]])
        parts = np.concatenate([parts[~nested], sub])
        nested = shapely.get_type_id(parts) >= 4
    keep = ~shapely.is_empty(parts)
    order = np.argsort(features[keep], kind="stable")
    return parts[keep][order], features[keep][order].astype(np.int64)


def explode(geoms: NDArray[np.object_], features: IntArray | None = None) -> list[Parts]:
    """Flat :class:`Parts` of geometries, one per kind present (features: their indices)."""
    feats = np.arange(len(geoms), dtype=np.int64) if features is None else features
    parts, feats = _single_parts(np.asarray(geoms, dtype=object), feats)
    types = shapely.get_type_id(parts)
    out: list[Parts] = []
    for kind, ids in ((_POINT, (0,)), (_LINE, (1, 2)), (_POLYGON, (3,))):
        chosen = np.isin(types, ids)
        if not chosen.any():
            continue
        singles, owner = parts[chosen], feats[chosen]
        if kind == _POLYGON:
            _, coords, (ring_offsets, poly_offsets) = shapely.to_ragged_array(singles)
            rings_per = np.diff(poly_offsets)
            exterior = np.zeros(len(ring_offsets) - 1, dtype=bool)
            exterior[poly_offsets[:-1]] = True
            out.append(
                Parts(
                    kind,
                    coords,
                    ring_offsets.astype(np.int64),
                    np.repeat(owner, rings_per),
                    exterior,
                )
            )
            continue
        coords, index = shapely.get_coordinates(singles, return_index=True)
        counts = np.bincount(index, minlength=len(singles))
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        out.append(Parts(kind, coords, offsets, owner, np.zeros(len(singles), dtype=bool)))
    return out


def merge_parts(a: Parts, b: Parts) -> Parts:
    """Pieces of two sets of distinct features, ordered by feature."""
    offsets = np.concatenate([a.offsets[:-1], b.offsets + a.offsets[-1]])
    merged = Parts(
        a.kind,
        np.concatenate([a.coords, b.coords]),
        offsets,
        np.concatenate([a.feature, b.feature]),
        np.concatenate([a.exterior, b.exterior]),
    )
    return merged.take(np.argsort(merged.feature, kind="stable").astype(np.int64))


# ---------------------------------------------------------------- MVT geometry commands


@dataclass(frozen=True)
class Commands:
    """Command integers of the features of one kind: feature k owns ints[starts[k]:…]."""

    kind: int
    features: IntArray
    counts: IntArray
    ints: NDArray[np.uint64]


def _command(command: int, count: IntArray | int) -> Any:
    return (np.asarray(count, dtype=np.int64) << 3) | command


def _deltas(q: IntArray, vertex_feature: IntArray) -> NDArray[np.uint64]:
    """Zigzag deltas of (n, 2) vertices; the cursor restarts at (0, 0) for each feature."""
    d = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    first = np.ones(len(q), dtype=bool)
    first[1:] = vertex_feature[1:] != vertex_feature[:-1]
    d[first] = q[first]
    return zigzag(d)


def _encode_points(q: IntArray, parts: Parts) -> Commands:
    feats, first = _runs(parts.feature)  # one point per piece
    per = np.diff(np.append(first, len(parts.feature)))
    lengths = 1 + 2 * per
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    ints = np.empty(int(lengths.sum()), dtype=np.uint64)
    ints[starts] = _command(_MOVE_TO, per)
    within = np.arange(len(q)) - np.repeat(np.concatenate([[0], np.cumsum(per)[:-1]]), per)
    pos = np.repeat(starts, per) + 1 + 2 * within
    dz = _deltas(q, parts.feature)
    ints[pos], ints[pos + 1] = dz[:, 0], dz[:, 1]
    return Commands(_POINT, feats.astype(np.int64), lengths, ints)


def _clean_rings(q: IntArray, parts: Parts, closed: bool) -> tuple[IntArray, IntArray, Any]:
    """Vertices without repeats (and without the closing vertex), their piece, and pieces kept."""
    n_pieces = len(parts.feature)
    piece = np.repeat(np.arange(n_pieces), np.diff(parts.offsets))
    keep = np.ones(len(q), dtype=bool)
    keep[1:] = ~((q[1:] == q[:-1]).all(axis=1) & (piece[1:] == piece[:-1]))
    q, piece = q[keep], piece[keep]
    counts = np.bincount(piece, minlength=n_pieces)
    if closed:  # drop the last vertex where it repeats the first (the closing one)
        ends = (np.cumsum(counts) - 1)[counts > 1]
        starts = ends - counts[counts > 1] + 1
        closing = ends[(q[ends] == q[starts]).all(axis=1)]
        keep = np.ones(len(q), dtype=bool)
        keep[closing] = False
        q, piece = q[keep], piece[keep]
        counts = np.bincount(piece, minlength=n_pieces)
    return q, piece, counts


def _orient(q: IntArray, piece: IntArray, counts: IntArray, parts: Parts) -> tuple[Any, Any]:
    """Rings reversed where needed (exterior: positive area in y-down units); rings kept."""
    starts = np.cumsum(counts) - counts
    within = np.arange(len(q)) - starts[piece]
    nxt = np.where(within + 1 < counts[piece], np.arange(len(q)) + 1, starts[piece])
    cross = q[:, 0] * q[nxt, 1] - q[nxt, 0] * q[:, 1]
    area2 = np.bincount(piece, weights=cross.astype(np.float64), minlength=len(counts))
    ok = (counts >= 3) & (area2 != 0)
    polygon = np.cumsum(parts.exterior) - 1
    ok &= ok[parts.exterior][polygon]  # a hole goes with its exterior ring
    flip = ok & ((area2 > 0) != parts.exterior)
    source = np.where(flip[piece], starts[piece] + counts[piece] - 1 - within, np.arange(len(q)))
    return q[source], ok


def _encode_paths(q: IntArray, parts: Parts, closed: bool) -> Commands:
    """Lines (MoveTo, LineTo) or polygon rings (… ClosePath) of the pieces."""
    q, piece, counts = _clean_rings(q, parts, closed)
    if closed:
        q, ok = _orient(q, piece, counts, parts)
    else:
        ok = counts >= 2
    keep = ok[piece]
    q, piece = q[keep], piece[keep]
    rings = np.flatnonzero(ok)
    counts = counts[rings]
    piece = np.searchsorted(rings, piece)  # renumber the kept pieces 0..
    lengths = 2 * counts + (3 if closed else 2)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    ints = np.empty(int(lengths.sum()), dtype=np.uint64)
    ints[starts] = _command(_MOVE_TO, 1)
    ints[starts + 3] = _command(_LINE_TO, counts - 1)
    if closed:
        ints[starts + lengths - 1] = _command(_CLOSE_PATH, 1)
    within = np.arange(len(q)) - (np.cumsum(counts) - counts)[piece]
    pos = starts[piece] + 1 + 2 * within + (within >= 1)
    dz = _deltas(q, parts.feature[rings][piece])
    ints[pos], ints[pos + 1] = dz[:, 0], dz[:, 1]
    feats, first = _runs(parts.feature[rings])
    per_feature = np.add.reduceat(lengths, first) if len(first) else lengths[:0]
    return Commands(parts.kind, feats, per_feature, ints)


def _runs(sorted_values: IntArray) -> tuple[IntArray, IntArray]:
    """Distinct values of a sorted array and where each first appears."""
    first = np.flatnonzero(np.diff(sorted_values, prepend=-1) != 0)
    return sorted_values[first].astype(np.int64), first


def encode_parts(parts: Parts, origin: tuple[float, float], scale: tuple[float, float]) -> Commands:
    """Geometry commands of pieces, their coordinates mapped to integer tile units.

    ``x_tile = (x − origin_x) · scale_x`` and likewise for y (negative ``scale_y``
    turns a y-up CRS into the y-down tile units).
    """
    q = np.rint((parts.coords - np.asarray(origin)) * np.asarray(scale)).astype(np.int64)
    if parts.kind == _POINT:
        return _encode_points(q, parts)
    return _encode_paths(q, parts, closed=parts.kind == _POLYGON)


# ---------------------------------------------------------------- MVT layer assembly


def _features_bytes(
    enc: Commands, table: ValueTable, ids: NDArray[np.uint64] | None, local: NDArray[np.int64]
) -> bytes:
    """``Layer.features`` fields of the encoded features, as one varint stream."""
    n = len(enc.features)
    codes = table.codes[enc.features]
    present = codes >= 0
    n_tags = 2 * present.sum(axis=1)
    keys = np.broadcast_to(np.arange(codes.shape[1], dtype=np.int64), codes.shape)
    tags = np.stack([keys[present], local[codes[present]]], axis=1).ravel().astype(np.uint64)
    tag_feature = np.repeat(np.arange(n), n_tags)
    tag_bytes = np.bincount(tag_feature, weights=_varint_sizes(tags), minlength=n).astype(np.int64)
    geom_feature = np.repeat(np.arange(n), enc.counts)
    geom_bytes = np.bincount(geom_feature, weights=_varint_sizes(enc.ints), minlength=n)
    geom_bytes = geom_bytes.astype(np.int64)
    tb, gb = tag_bytes.astype(np.uint64), geom_bytes.astype(np.uint64)
    body = 1 + _varint_sizes(tb) + tag_bytes + 2 + 1 + _varint_sizes(gb) + geom_bytes
    head: list[Any] = [np.full(n, 0x12), None]
    if ids is not None:
        fid = ids[enc.features].astype(np.uint64)
        body += 1 + _varint_sizes(fid)
        head += [np.full(n, 0x08), fid]
    head[1] = body
    head += [np.full(n, 0x12), tb]
    middle = [np.full(n, 0x18), np.full(n, enc.kind), np.full(n, 0x22), gb]
    per = len(head) + n_tags + len(middle) + enc.counts
    starts = np.concatenate([[0], np.cumsum(per)[:-1]]).astype(np.int64)
    out = np.empty(int(per.sum()), dtype=np.uint64)
    for j, values in enumerate(head):
        out[starts + j] = values
    out[np.repeat(starts + len(head), n_tags) + _within(n_tags)] = tags
    mid = starts + len(head) + n_tags
    for j, values in enumerate(middle):
        out[mid + j] = values
    out[np.repeat(mid + len(middle), enc.counts) + _within(enc.counts)] = enc.ints
    return varints(out)


def _within(counts: IntArray) -> IntArray:
    """0..c−1 for each count, concatenated."""
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return _ranges(starts, starts + counts) - np.repeat(starts, counts)


def encode_layer(
    name: str,
    encoded: Sequence[Commands],
    table: ValueTable,
    ids: NDArray[np.uint64] | None = None,
    extent: int = EXTENT,
) -> bytes:
    """A one-layer MVT ``Tile`` (b"" when there are no features): features, keys, values."""
    encoded = [e for e in encoded if len(e.features)]
    if not encoded:
        return b""
    codes = np.concatenate([table.codes[e.features].ravel() for e in encoded])
    uses = np.bincount(codes[codes >= 0], minlength=len(table.fields))
    used = np.flatnonzero(uses)
    used = used[np.argsort(-uses[used], kind="stable")]  # frequent values: one-byte indices
    local = np.full(len(table.fields) + 1, -1, dtype=np.int64)
    local[used] = np.arange(len(used))
    layer = b"".join(
        [
            _field(1, name.encode("utf-8")),
            *(_features_bytes(e, table, ids, local) for e in encoded),
            *(_field(3, key.encode("utf-8")) for key in table.keys),
            b"".join(table.fields[used]),
            b"\x28" + _varint(extent),  # extent
            b"\x78\x02",  # version 2
        ]
    )
    return _field(3, layer)


def encode_tile(
    name: str,
    geometries: Sequence[Any],
    properties: pd.DataFrame | None = None,
    ids: ArrayLike | None = None,
    extent: int = EXTENT,
) -> bytes:
    """An MVT tile of geometries already in tile units (x right, y down), unclipped.

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> encode_tile("p", [Point(25, 17)], pd.DataFrame({"n": [1]})).hex()
    '1a1c0a0170120b12020000180122030932221a016e220220012880207802'
    """
    geoms = np.asarray(list(geometries), dtype=object)
    table = ValueTable.from_frame(
        properties if properties is not None else pd.DataFrame(index=range(len(geoms)))
    )
    encoded = [encode_parts(p, (0.0, 0.0), (1.0, 1.0)) for p in explode(geoms)]
    fids = None if ids is None else np.asarray(ids, dtype=np.uint64)
    return encode_layer(name, encoded, table, fids, extent)


# ---------------------------------------------------------------- reading back


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    value, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def _fields(data: bytes) -> list[tuple[int, bytes | None]]:
    """The top-level (field number, length-delimited payload or None) of a protobuf message."""
    out: list[tuple[int, bytes | None]] = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _read_varint(data, pos)
            out.append((number, None))
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            out.append((number, data[pos : pos + size]))
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            out.append((number, None))
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")
    return out


def count_features(tile: bytes) -> int:
    """Features in an encoded MVT tile, over all its layers (b"": 0).

    Examples
    --------
    >>> from shapely.geometry import Point
    >>> count_features(encode_tile("p", [Point(1, 1), Point(2, 2)]))
    2
    >>> count_features(b"")
    0
    """
    return sum(
        1
        for number, layer in _fields(tile)
        if number == 3 and layer is not None
        for field, _ in _fields(layer)
        if field == 2
    )
