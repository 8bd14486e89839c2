"""Feature construction: raw shared rows -> feature columns, one row in, one row out.

Every feature of a row is computed from that row alone: the feed row of a user at an
observation date already aggregates the history before that date, and retention is applied by
leaving out windows longer than the retained history. Nothing from a later row (or from the
outcomes) can reach a feature.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from nsf.features._registry import FeatureSpec

#: [ASSUMPTION] mail providers for the coarse e-mail feature.
_PORTAL_MAIL = ("naver.com", "daum.net", "hanmail.net", "kakao.com", "nate.com")
_GLOBAL_MAIL = ("gmail.com", "icloud.com", "me.com", "outlook.com", "hotmail.com", "yahoo.com")
_EPOCH_YEAR = 1970


def _arrow(values) -> pa.Array:
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else \
        pa.array(values, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr


def _text(values: pd.Series) -> pa.Array:
    arr = _arrow(values)
    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.string())
    return arr


def _numeric(values: pd.Series) -> np.ndarray:
    """Numbers (booleans as 0/1) as a numpy array; missing values NaN.

    Plain numpy-backed columns are returned without a copy (the caller converts on assignment):
    this is on the scoring hot path.
    """
    if isinstance(values, pa.Array | pa.ChunkedArray):
        arr = _arrow(values)
        t = arr.type
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
            if arr.null_count == 0:
                return arr.to_numpy(zero_copy_only=False)
            return pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False)
        values = arr.to_pandas()
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "biuf":
        return values.to_numpy()
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    # Booleans or numbers that arrived as text (e.g. from a CSV written elsewhere).
    text = values.astype("str").str.strip().str.lower()
    mapped = text.map({"true": 1.0, "false": 0.0})
    numbers = pd.to_numeric(text.where(mapped.isna()), errors="coerce")
    return mapped.fillna(numbers).to_numpy(dtype=np.float64, na_value=np.nan)


def _days(values) -> np.ndarray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        arr = _arrow(values)
        if pa.types.is_timestamp(arr.type):
            arr = pc.cast(arr, pa.date32())
        if pa.types.is_date32(arr.type):
            return pc.cast(pc.cast(arr, pa.int32()), pa.float64()).to_numpy(
                zero_copy_only=False)
        values = arr.to_pandas()
    if not pd.api.types.is_datetime64_any_dtype(values):
        values = pd.to_datetime(values, errors="coerce")
    days = values.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    out = days.astype(np.int64).astype(np.float64)
    out[np.isnat(days)] = np.nan
    return out


def _email_domain(values: pd.Series) -> pa.Array:
    return pc.replace_substring_regex(_text(values), pattern=r"^[^@]*@", replacement="")


def _account_id_kind(kakao: pd.Series, email: pd.Series, phone: pd.Series) -> pa.Array:
    k = _text(kakao)
    is_email = pc.fill_null(pc.equal(k, _text(email)), False)
    is_phone = pc.fill_null(pc.equal(k, _text(phone)), False)
    other = pa.scalar("other")
    return pc.if_else(is_email, "email", pc.if_else(is_phone, "phone", other))


def _coarsen(values, spec: FeatureSpec):
    rule = spec.coarsen
    if rule == "none":
        return values
    if rule in ("amount_band", "count_cap", "year", "years", "log2_band"):
        values = np.asarray(values, dtype=np.float64)
    if rule == "amount_band":
        band = (np.searchsorted(spec.bands, values, side="right") - 1).astype(np.float64)
        band[np.isnan(values)] = np.nan
        return band
    if rule == "count_cap":
        return np.minimum(values, spec.bands[0])
    if rule == "year":
        out = np.full(values.shape, np.nan)
        ok = ~np.isnan(values)
        out[ok] = values[ok].astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) \
            + _EPOCH_YEAR
        return out
    if rule == "years":
        return np.floor(values / 365.0)
    if rule == "log2_band":
        return np.sign(values) * np.floor(np.log2(1.0 + np.abs(values)))
    if rule == "carrier_type":
        return pc.if_else(pc.equal(values, "MVNO"), "MVNO", "MNO")
    if rule == "provider":
        portal = pc.is_in(values, value_set=pa.array(_PORTAL_MAIL))
        global_ = pc.is_in(values, value_set=pa.array(_GLOBAL_MAIL))
        out = pc.if_else(portal, "korean_portal", pc.if_else(global_, "global", "other"))
        return pc.if_else(pc.is_null(values), pa.scalar(None, pa.string()), out)
    raise ValueError(f"unknown coarsening rule {rule!r}")


def compute_feature(frame: pd.DataFrame, spec: FeatureSpec, coarse: bool = False):
    """One feature: ``float64`` numpy array (numeric) or pyarrow string array (categorical)."""
    # ``frame`` is a pandas DataFrame or a pyarrow Table (batch scoring skips pandas).
    cols = [frame.column(c) if isinstance(frame, pa.Table) else frame[c] for c in spec.sources]
    if spec.op == "value":
        values = _numeric(cols[0])
    elif spec.op == "days":
        values = _days(cols[0])
    elif spec.op == "text":
        values = _text(cols[0])
    elif spec.op == "email_domain":
        values = _email_domain(cols[0])
    elif spec.op == "account_id_kind":
        values = _account_id_kind(*cols)
    else:
        raise ValueError(f"feature {spec.name!r}: unknown op {spec.op!r}")
    return _coarsen(values, spec) if coarse else values


def required_columns(specs: Iterable[FeatureSpec]) -> list[str]:
    """Raw columns the features need, in first-use order."""
    return list(dict.fromkeys(c for s in specs for c in s.sources))


def build_features(frame: pd.DataFrame, specs: Sequence[FeatureSpec], *,
                   coarsen_groups: Iterable[str] = ()) -> pd.DataFrame:
    """Feature frame of raw shared rows.

    Parameters
    ----------
    frame : raw rows (the shared feed, or the user's table), with every ``spec.sources`` column.
    specs : the features to compute (excluded specs are skipped).
    coarsen_groups : groups whose features take their coarse version.

    Returns
    -------
    pandas.DataFrame
        One column per feature, same row order as ``frame``: numeric features as ``float64``,
        categorical ones as text (integer-coded later, inside the model pipeline).

    Raises
    ------
    KeyError
        If a needed raw column is missing (message lists them).
    """
    specs = [s for s in specs if s.kind != "excluded"]
    missing = [c for c in required_columns(specs) if c not in frame.columns]
    if missing:
        raise KeyError(f"rows lack the columns {missing}")
    coarse = set(coarsen_groups)
    out = {}
    for spec in specs:
        values = compute_feature(frame, spec, spec.group in coarse)
        out[spec.name] = np.asarray(values, dtype=np.float64) if isinstance(values, np.ndarray) \
            else \
            pd.Series(values.to_pandas(), index=None, dtype="str")
    return pd.DataFrame(out, index=frame.index)
