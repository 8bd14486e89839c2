"""Exact TreeSHAP of a LightGBM model by table look-up: group values at prediction speed.

Path-dependent TreeSHAP of one tree depends on a row only through which side of each of the
tree's splits the row falls: for a numerical feature, the interval between the tree's
thresholds on it the value lies in (or NaN); for a categorical one, which of the tree's category
sets hold the code. The tree therefore cuts the input space into finitely many cells, and its
SHAP values are constant on each. This module enumerates every cell of every tree, computes
the tree's SHAP values there (the leaf-wise form of Lundberg et al.'s path-dependent algorithm,
compiled, on LightGBM's own split rules and training counts), sums them by attribute group into
a table, and at scoring time finds each row's cell in each tree with a compiled kernel and adds
the table rows. The result is LightGBM's own TreeSHAP (``pred_contrib``) summed by group, equal
up to the order of floating-point sums (the tests check it to 1e-9 on rows with missing values
and unseen, negative and non-integer category codes), at a cost close to a prediction's.

Trees whose cells would be too many (many splits on many distinct features) make the model
fall back to ``pred_contrib``: :meth:`CellTreeShap.build` returns None.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from nsf.models import feature_matrix, run_row_parts

#: Largest number of cells of one tree (a 15-leaf tree has at most a few thousand).
MAX_CELLS_PER_TREE = 1 << 16
#: Largest total size of the tables, in float64 entries (256 MiB).
MAX_TABLE_ENTRIES = 1 << 25
#: Leaves with at most this many distinct path features get a table over the 2^d patterns of
#: their one fractions; deeper ones are computed cell by cell (same values, more time).
PATTERN_DEPTH = 12
#: Rows a thread walks through all the trees together (their tables stay in cache).
BLOCK_ROWS = 256

_NUMERIC, _CATEGORICAL = 0, 1


class _TreeCells:
    """The cells of one tree: per split feature, how a value maps to its class."""

    def __init__(self, tree: dict):
        self.numeric: dict[int, set[float]] = {}
        self.nan_kinds: dict[int, set[str]] = {}
        self.category_sets: dict[int, list[list[int]]] = {}
        self.splits: list[dict] = []  # internal nodes, in walk order
        # leaves: (value, [(split position, goes left, child count / node count), ...])
        self.leaves: list[tuple[float, list[tuple[int, bool, float]]]] = []
        self._walk(tree)
        self._paths(tree, [])
        self.features = sorted(set(self.numeric) | set(self.category_sets))

    @staticmethod
    def _count(node: dict) -> float:
        return float(node.get("leaf_count" if "leaf_value" in node else "internal_count", 0))

    def _paths(self, node: dict, path: list) -> None:
        if "leaf_value" in node:
            self.leaves.append((float(node["leaf_value"]), list(path)))
            return
        position = node["_position"]
        total = self._count(node)
        for child, left in ((node["left_child"], True), (node["right_child"], False)):
            ratio = self._count(child) / total if total > 0 else 0.0
            self._paths(child, [*path, (position, left, ratio)])

    def _walk(self, node: dict) -> None:
        if "leaf_value" in node:
            return
        node["_position"] = len(self.splits)
        self.splits.append(node)
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


    def goes_left(self, node: dict, reps: np.ndarray) -> np.ndarray:
        """Whether a row holding each representative value goes left at ``node`` (LightGBM's
        ``NumericalDecision`` / ``CategoricalDecision``, as :mod:`nsf.models._forest`)."""
        x = np.asarray(reps, dtype=np.float64)
        if node["decision_type"] == "==":
            cats = np.array([int(c) for c in str(node["threshold"]).split("||")])
            codes = np.where(np.isnan(x), -1, np.trunc(np.nan_to_num(x, nan=-1.0)))
            return ~np.isnan(x) & (codes >= 0) & np.isin(codes, cats)
        missing = str(node.get("missing_type", "None"))
        if missing == "NaN":
            return np.where(np.isnan(x), bool(node.get("default_left", False)),
                            x <= float(node["threshold"]))
        return np.where(np.isnan(x), 0.0, x) <= float(node["threshold"])


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
              max_table_entries: int = MAX_TABLE_ENTRIES,
              pattern_depth: int = PATTERN_DEPTH) -> CellTreeShap | None:
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
        return cls._tabulate(trees, specs, groups, group_index, n_features, pattern_depth)

    @classmethod
    def _tabulate(cls, trees, specs, groups, group_index, n_features,
                  pattern_depth) -> CellTreeShap:
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
        u_kind: list[int] = []
        u_start: list[int] = []
        u_count: list[int] = []
        thresholds: list[float] = []
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
        q_slot: list[int] = []
        q_map: list[int] = []
        maps: list[int] = []
        group_ids: list[int] = []
        tables: list[np.ndarray] = []
        base = 0.0
        offset = 0
        n_cells_total = 0
        for t, (features, per_feature, n_cells, tree_groups) in enumerate(specs):
            tree_first.append(len(q_slot))
            radices = [len(c[4]) for c in per_feature]
            strides = (np.cumprod([1, *radices[:-1]]).astype(np.int64) if radices
                       else np.zeros(0, np.int64))
            for j, (kind, table, nan_class, rest_class, _reps), stride in zip(
                    features, per_feature, strides, strict=True):
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
            by_group, expected = _tree_cell_shap(trees[t], features, per_feature, strides,
                                                 radices, n_cells, group_index, len(groups),
                                                 pattern_depth)
            base += expected
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
        X = feature_matrix(X, self.n_features)
        out = np.zeros((X.shape[0], len(self.groups)), dtype=np.float64)
        a = self._arrays
        args = tuple(a[k] for k in (
            "u_feature", "u_kind", "u_start", "u_count", "thresholds", "q_slot", "q_map",
            "maps", "tree_first", "tree_end", "table_offset", "group_start", "group_count",
            "group_ids", "table"))
        return run_row_parts(_cell_values, X, out, args, num_threads, BLOCK_ROWS * 4)


def _tree_cell_shap(cells: _TreeCells, features, per_feature, strides, radices, n_cells: int,
                    group_index: np.ndarray, n_groups: int,
                    pattern_depth: int = PATTERN_DEPTH) -> tuple[np.ndarray, float]:
    """Path-dependent TreeSHAP of one tree at every cell, summed by group: (n_cells, n_groups),
    and the tree's expected value (Lundberg et al. 2020, written leaf by leaf)."""
    cell = np.arange(n_cells, dtype=np.int64)
    position = {j: k for k, j in enumerate(features)}
    decisions = np.zeros((n_cells, max(len(cells.splits), 1)), dtype=np.uint8)
    for n, node in enumerate(cells.splits):
        k = position[int(node["split_feature"])]
        left = cells.goes_left(node, per_feature[k][4])
        decisions[:, n] = left[(cell // strides[k]) % radices[k]]
    # Leaves as flat arrays; on each path, the position of its node's feature among the
    # path's distinct features (a feature split twice on a path is one player).
    value: list[float] = []
    first: list[int] = []
    length: list[int] = []
    n_unique: list[int] = []
    node_of: list[int] = []
    left_of: list[int] = []
    ratio_of: list[float] = []
    slot_of: list[int] = []
    unique_feature: list[int] = []
    expected = 0.0
    for leaf_value, path in cells.leaves:
        slots: dict[int, int] = {}
        first.append(len(node_of))
        length.append(len(path))
        weight = 1.0
        for n, goes_left, ratio in path:
            j = int(cells.splits[n]["split_feature"])
            if j not in slots:
                slots[j] = len(slots)
                unique_feature.append(j)
            node_of.append(n)
            left_of.append(int(goes_left))
            ratio_of.append(ratio)
            slot_of.append(slots[j])
            weight *= ratio
        value.append(leaf_value)
        n_unique.append(len(slots))
        expected += leaf_value * weight
    unique_first = np.concatenate([[0], np.cumsum(n_unique)[:-1]]).astype(np.int64)
    out = np.zeros((n_cells, n_groups), dtype=np.float64)
    if len(cells.splits):
        depth = max(n_unique)
        _cell_shap(decisions, np.asarray(value, np.float64), np.asarray(first, np.int64),
                   np.asarray(length, np.int64), np.asarray(n_unique, np.int64), unique_first,
                   np.asarray(node_of, np.int64), np.asarray(left_of, np.uint8),
                   np.asarray(ratio_of, np.float64), np.asarray(slot_of, np.int64),
                   group_index[np.asarray(unique_feature, np.int64)], _shapley_weights(depth),
                   pattern_depth, out)
    return out, expected


def _shapley_weights(depth: int) -> np.ndarray:
    """w[d, s] = s! (d - s - 1)! / d!: the weight of a coalition of s of d - 1 other players."""
    w = np.zeros((depth + 1, depth + 1), dtype=np.float64)
    for d in range(1, depth + 1):
        for s in range(d):
            w[d, s] = math.factorial(s) * math.factorial(d - s - 1) / math.factorial(d)
    return w




@njit(cache=True, nogil=True)
def _leaf_terms(d, z, o, weights, q, p, out_terms):
    """out_terms[i] = (o_i - z_i) sum_s w(s, d) [y^s] prod_{j != i} (o_j y + z_j)."""
    q[0] = 1.0
    for s in range(1, d + 1):
        q[s] = 0.0
    for u in range(d):  # q *= (o_u y + z_u)
        for s in range(u + 1, 0, -1):
            q[s] = q[s] * z[u] + q[s - 1] * o[u]
        q[0] = q[0] * z[u]
    for i in range(d):
        if o[i] == 1.0:  # divide q by (y + z_i), from the top
            p[d - 1] = q[d]
            for s in range(d - 1, 0, -1):
                p[s - 1] = q[s] - z[i] * p[s]
        elif z[i] > 0.0:  # o_i = 0: q = z_i * p
            for s in range(d):
                p[s] = q[s] / z[i]
        else:  # a factor 0: the product of the others, directly
            p[0] = 1.0
            for s in range(1, d):
                p[s] = 0.0
            deg = 0
            for u in range(d):
                if u == i:
                    continue
                deg += 1
                for s in range(deg, 0, -1):
                    p[s] = p[s] * z[u] + p[s - 1] * o[u]
                p[0] = p[0] * z[u]
        total = 0.0
        for s in range(d):
            total += weights[d, s] * p[s]
        out_terms[i] = (o[i] - z[i]) * total


@njit(cache=True, nogil=True)
def _cell_shap(decisions, value, first, length, n_unique, unique_first, node_of, left_of,
               ratio_of, slot_of, unique_group, weights, pattern_depth, out):
    """For every cell and leaf: each distinct path feature j has a zero fraction z_j (the share
    of training rows that follow the path at its splits) and a one fraction o_j (1 if the cell
    follows the path at all of j's splits); feature i gets v (o_i - z_i) sum_s w(s, d) [y^s]
    prod_{j != i} (o_j y + z_j), the leaf-wise form of path-dependent TreeSHAP. The term
    depends on the cell only through the pattern of one fractions, so shallow leaves tabulate
    it per pattern first. Values are added to ``out[cell, group of feature]``."""
    max_d = weights.shape[0]
    z = np.empty(max_d)
    o = np.empty(max_d)
    q = np.empty(max_d + 1)
    p = np.empty(max_d + 1)
    terms = np.empty(max_d)
    n_cells = decisions.shape[0]
    for leaf in range(value.size):
        d = n_unique[leaf]
        if d == 0:
            continue
        for u in range(d):
            z[u] = 1.0
        for k in range(first[leaf], first[leaf] + length[leaf]):
            z[slot_of[k]] *= ratio_of[k]
        g0 = unique_first[leaf]
        v = value[leaf]
        if d <= pattern_depth:
            table = np.empty((1 << d, d))
            for pattern in range(1 << d):
                for u in range(d):
                    o[u] = float((pattern >> u) & 1)
                _leaf_terms(d, z, o, weights, q, p, terms)
                for u in range(d):
                    table[pattern, u] = v * terms[u]
            full = (1 << d) - 1
            for c in range(n_cells):
                pattern = full
                for k in range(first[leaf], first[leaf] + length[leaf]):
                    if decisions[c, node_of[k]] != left_of[k]:
                        pattern &= ~(1 << slot_of[k])
                for u in range(d):
                    out[c, unique_group[g0 + u]] += table[pattern, u]
        else:
            for c in range(n_cells):
                for u in range(d):
                    o[u] = 1.0
                for k in range(first[leaf], first[leaf] + length[leaf]):
                    if decisions[c, node_of[k]] != left_of[k]:
                        o[slot_of[k]] = 0.0
                _leaf_terms(d, z, o, weights, q, p, terms)
                for u in range(d):
                    out[c, unique_group[g0 + u]] += v * terms[u]


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
