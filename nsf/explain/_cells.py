"""Exact TreeSHAP of a LightGBM model by table look-up: group values at prediction speed.

Path-dependent TreeSHAP of one tree depends on a row only through which side of each of the
tree's splits the row falls: for a numerical feature, the interval between the tree's
thresholds on it the value lies in (or NaN); for a categorical one, which of the tree's category
sets hold the code. The tree therefore cuts the input space into finitely many cells, and its
SHAP values are constant on each. This module enumerates every cell of every tree, computes
the tree's SHAP values at one representative row per cell with LightGBM itself
(``Booster.predict(pred_contrib=True, start_iteration=t, num_iteration=1)``), sums them by
attribute group into a table, and at scoring time finds each row's cell in each tree with a
compiled kernel and adds the table rows. The result is LightGBM's own TreeSHAP summed by group
(equal up to the order of floating-point sums; the tests check it to 1e-9), at a cost close to
that of a prediction, where ``pred_contrib`` costs about 8 times more.

Trees whose cells would be too many (many splits on many distinct features) make the model
fall back to ``pred_contrib``: :meth:`CellTreeShap.build` returns None.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

#: Largest number of cells of one tree (a 15-leaf tree has at most a few thousand).
MAX_CELLS_PER_TREE = 1 << 16
#: Largest total size of the tables, in float64 entries (256 MiB).
MAX_TABLE_ENTRIES = 1 << 25
#: Rows a thread walks through all the trees together (their tables stay in cache).
BLOCK_ROWS = 256

_NUMERIC, _CATEGORICAL = 0, 1


class _TreeCells:
    """The cells of one tree: per split feature, how a value maps to its class."""

    def __init__(self, tree: dict):
        self.numeric: dict[int, set[float]] = {}
        self.nan_kinds: dict[int, set[str]] = {}
        self.category_sets: dict[int, list[list[int]]] = {}
        self._walk(tree)
        self.features = sorted(set(self.numeric) | set(self.category_sets))

    def _walk(self, node: dict) -> None:
        if "leaf_value" in node:
            return
        j = int(node["split_feature"])
        missing = str(node.get("missing_type", "None"))
        if missing == "Zero":
            raise _Unsupported("zero-as-missing split")
        if node["decision_type"] == "==":
            self.category_sets.setdefault(j, []).append(
                [int(c) for c in str(node["threshold"]).split("||")])
        elif node["decision_type"] == "<=":
            self.numeric.setdefault(j, set()).add(float(node["threshold"]))
            self.nan_kinds.setdefault(j, set()).add(missing)
        else:
            raise _Unsupported(f"decision type {node['decision_type']!r}")
        if j in self.numeric and j in self.category_sets:
            raise _Unsupported(f"feature {j} split both as a number and as a category")
        self._walk(node["left_child"])
        self._walk(node["right_child"])

    def classes(self, j: int):
        """``(kind, thresholds or code map, NaN class, rest class, representatives)``."""
        if j in self.numeric:
            thr = np.array(sorted(self.numeric[j]), dtype=np.float64)
            reps = [*thr.tolist(), float(np.nextafter(thr[-1], np.inf))]
            if self.nan_kinds[j] == {"None"}:
                # LightGBM reads NaN as 0.0 at splits without a missing-value direction.
                nan_class = int(np.searchsorted(thr, 0.0, side="left"))
            else:
                nan_class = len(reps)
                reps.append(np.nan)
            return _NUMERIC, thr, nan_class, -1, reps
        sets = self.category_sets[j]
        width = max(max(s) for s in sets) + 1
        member = np.zeros((width + 1, len(sets)), dtype=bool)  # last row: every other code
        for k, s in enumerate(sets):
            member[s, k] = True
        _patterns, first, inverse = np.unique(member, axis=0, return_index=True,
                                             return_inverse=True)
        inverse = inverse.reshape(-1)
        reps = [float(c) if c < width else float(width) for c in first.tolist()]
        rest = int(inverse[width])
        # LightGBM sends NaN and negative codes right at every category split (as
        # nsf.models._forest does), like codes beyond every set: the 'rest' class.
        return _CATEGORICAL, inverse[:width].astype(np.int64), rest, rest, reps


class _Unsupported(ValueError):
    pass


class CellTreeShap:
    """Group TreeSHAP values of a LightGBM model by per-tree cell tables (see the module).

    Build with :meth:`build`; :meth:`group_values` gives (rows x groups) values in the margin,
    groups in feature order; ``base_value`` is LightGBM's expected value.
    """

    def __init__(self, arrays: dict, groups: tuple[str, ...], base_value: float,
                 n_features: int, n_cells: int):
        self._arrays = arrays
        self.groups = groups
        self.base_value = float(base_value)
        self.n_features = int(n_features)
        self.n_cells = int(n_cells)

    @classmethod
    def build(cls, fitted, *, max_cells_per_tree: int = MAX_CELLS_PER_TREE,
              max_table_entries: int = MAX_TABLE_ENTRIES) -> CellTreeShap | None:
        """The tables of ``fitted`` (a LightGBM FittedModel), or None if they would be too
        large or a split is of a kind they do not cover (zero-as-missing)."""
        booster = fitted.estimator_.booster_
        dump = booster.dump_model()
        if dump.get("num_class", 1) != 1 or booster.params.get("linear_tree"):
            return None
        n_features = int(dump["max_feature_idx"]) + 1
        group_of = [s.group for s in fitted.features]
        if len(group_of) != n_features:
            return None
        groups = tuple(dict.fromkeys(group_of))
        group_index = np.array([groups.index(g) for g in group_of], dtype=np.int64)
        try:
            trees = [_TreeCells(t["tree_structure"]) for t in dump["tree_info"]]
        except _Unsupported:
            return None
        specs = []
        total_entries = 0
        for cells in trees:
            per_feature = [cells.classes(j) for j in cells.features]
            n_cells = math.prod(len(c[4]) for c in per_feature)
            tree_groups = sorted({int(group_index[j]) for j in cells.features})
            total_entries += n_cells * max(len(tree_groups), 1)
            if n_cells > max_cells_per_tree or total_entries > max_table_entries:
                return None
            specs.append((cells.features, per_feature, n_cells, tree_groups))
        return cls._tabulate(booster, specs, groups, group_index, n_features)

    @classmethod
    def _tabulate(cls, booster, specs, groups, group_index, n_features) -> CellTreeShap:
        # Each used feature gets one index per row for all trees: for a numerical feature the
        # interval of its value among the union of the trees' thresholds on it (NaN last), for
        # a categorical one the code (codes beyond every set, negative codes and NaN last).
        # Per tree and feature a small map turns that index into the tree's class, already
        # multiplied by the class's stride in the tree's cell number.
        union: dict[int, set[float]] = {}
        width: dict[int, int] = {}
        for features, per_feature, _n, _g in specs:
            for j, (kind, table, *_rest) in zip(features, per_feature, strict=True):
                if kind == _NUMERIC:
                    union.setdefault(j, set()).update(table.tolist())
                else:
                    width[j] = max(width.get(j, 0), int(table.size))
        used = sorted(set(union) | set(width))
        slot = {j: u for u, j in enumerate(used)}
        u_kind, u_start, u_count, thresholds = [], [], [], []
        for j in used:
            if j in union:
                values = sorted(union[j])
                u_kind.append(_NUMERIC)
                u_start.append(len(thresholds))
                u_count.append(len(values))
                thresholds.extend(values)
            else:
                u_kind.append(_CATEGORICAL)
                u_start.append(0)
                u_count.append(width[j])
        tree_first, tree_end, table_offset, group_start, group_count = ([] for _ in range(5))
        q_slot, q_map = [], []
        maps: list[int] = []
        group_ids: list[int] = []
        tables: list[np.ndarray] = []
        to_groups = np.zeros((n_features, len(groups)), dtype=np.float64)
        to_groups[np.arange(n_features), group_index] = 1.0
        base = 0.0
        offset = 0
        n_cells_total = 0
        for t, (features, per_feature, n_cells, tree_groups) in enumerate(specs):
            tree_first.append(len(q_slot))
            radices = [len(c[4]) for c in per_feature]
            strides = np.cumprod([1, *radices[:-1]]).astype(np.int64) if radices else []
            cells = np.arange(n_cells, dtype=np.int64)
            rows = np.full((n_cells, n_features), np.nan, dtype=np.float64)
            for j, (kind, table, nan_class, rest_class, reps), stride, radix in zip(
                    features, per_feature, strides, radices, strict=True):
                rows[:, j] = np.asarray(reps, dtype=np.float64)[(cells // stride) % radix]
                u = slot[j]
                if kind == _NUMERIC:
                    grid = np.append(np.asarray(thresholds[u_start[u]:u_start[u] + u_count[u]]),
                                     np.inf)
                    classes = np.append(np.searchsorted(table, grid, side="left"), nan_class)
                else:
                    codes = np.arange(u_count[u])
                    inside = codes < table.size
                    classes = np.append(np.where(inside, table[np.minimum(codes, table.size - 1)],
                                                 rest_class), rest_class)
                q_slot.append(u)
                q_map.append(len(maps))
                maps.extend((classes.astype(np.int64) * int(stride)).tolist())
            tree_end.append(len(q_slot))
            contrib = np.asarray(booster.predict(rows, pred_contrib=True, start_iteration=t,
                                                 num_iteration=1), dtype=np.float64)
            base += float(contrib[0, -1])
            by_group = contrib[:, :-1] @ to_groups
            table_offset.append(offset)
            group_start.append(len(group_ids))
            group_count.append(len(tree_groups))
            group_ids.extend(tree_groups)
            tables.append(np.ascontiguousarray(by_group[:, tree_groups]).ravel())
            offset += n_cells * len(tree_groups)
            n_cells_total += n_cells
        i64 = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
        arrays = {
            "u_feature": i64(used), "u_kind": i64(u_kind), "u_start": i64(u_start),
            "u_count": i64(u_count), "thresholds": np.asarray(thresholds, dtype=np.float64),
            "q_slot": i64(q_slot), "q_map": i64(q_map), "maps": i64(maps),
            "tree_first": i64(tree_first), "tree_end": i64(tree_end),
            "table_offset": i64(table_offset), "group_start": i64(group_start),
            "group_count": i64(group_count), "group_ids": i64(group_ids),
            "table": np.concatenate(tables) if tables else np.zeros(0, np.float64),
        }
        return cls(arrays, groups, base, n_features, n_cells_total)

    def group_values(self, X: np.ndarray, num_threads: int = 1) -> np.ndarray:
        """(n_rows, n_groups) SHAP values in the margin; rows add up to margin - base_value."""
        X = np.ascontiguousarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected a matrix of {self.n_features} feature columns, got "
                             f"shape {X.shape}")
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        out = np.zeros((X.shape[0], len(self.groups)), dtype=np.float64)
        a = self._arrays
        args = tuple(a[k] for k in (
            "u_feature", "u_kind", "u_start", "u_count", "thresholds", "q_slot", "q_map",
            "maps", "tree_first", "tree_end", "table_offset", "group_start", "group_count",
            "group_ids", "table"))
        n = X.shape[0]
        parts = max(1, min(int(num_threads), math.ceil(n / (BLOCK_ROWS * 4))))
        if parts == 1:
            _cell_values(X, out, *args)
            return out
        bounds = np.linspace(0, n, parts + 1).astype(int)
        with ThreadPoolExecutor(max_workers=parts) as pool:  # the kernel releases the GIL
            list(pool.map(lambda k: _cell_values(X[bounds[k]:bounds[k + 1]],
                                                 out[bounds[k]:bounds[k + 1]], *args),
                          range(parts)))
        return out


@njit(cache=True, nogil=True)
def _cell_values(X, out, u_feature, u_kind, u_start, u_count, thresholds, q_slot, q_map, maps,
                 tree_first, tree_end, table_offset, group_start, group_count, group_ids,
                 table):
    n = X.shape[0]
    n_used = u_feature.size
    index = np.empty((n_used, BLOCK_ROWS), np.int64)
    keys = np.empty(BLOCK_ROWS, np.int64)
    for start in range(0, n, BLOCK_ROWS):
        m = min(start + BLOCK_ROWS, n) - start
        for u in range(n_used):
            j = u_feature[u]
            count = u_count[u]
            if u_kind[u] == 0:
                lo0 = u_start[u]
                for r in range(m):
                    x = X[start + r, j]
                    if x != x:
                        index[u, r] = count + 1
                    else:  # thresholds below x (LightGBM goes left when x <= threshold)
                        lo = 0
                        hi = count
                        while lo < hi:
                            mid = (lo + hi) >> 1
                            if thresholds[lo0 + mid] < x:
                                lo = mid + 1
                            else:
                                hi = mid
                        index[u, r] = lo
            else:
                for r in range(m):
                    x = X[start + r, j]
                    if x != x:
                        index[u, r] = count
                    else:
                        code = int(x)  # truncation toward zero, as LightGBM's cast
                        index[u, r] = count if code < 0 or code >= count else code
        for t in range(tree_first.size):
            for r in range(m):
                keys[r] = 0
            for q in range(tree_first[t], tree_end[t]):
                u = q_slot[q]
                base = q_map[q]
                for r in range(m):
                    keys[r] += maps[base + index[u, r]]
            g0 = group_start[t]
            g = group_count[t]
            offset = table_offset[t]
            for r in range(m):
                row = offset + keys[r] * g
                for k in range(g):
                    out[start + r, group_ids[g0 + k]] += table[row + k]
