"""The SHAP views of the baseline as figures (beeswarm, dependence, waterfalls): drawn by the
report and logged by tracking with the study's explanations."""

from __future__ import annotations

import json

from matplotlib.figure import Figure

from nsf.views._blocks import png as _png

#: Groups drawn in a beeswarm or waterfall (the rest are summed into one line).
_MAX_GROUPS = 10


def _swarm_offsets(x, width: float = 0.38, bins: int = 60):
    """Vertical offsets that spread the dots of one row of a beeswarm (deterministic)."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    out = np.zeros(x.size)
    if x.size < 2 or np.ptp(x) == 0:
        return out
    edges = np.linspace(x.min(), x.max(), bins + 1)
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    counts = np.bincount(idx, minlength=bins)
    scale = width / max(1, counts.max())
    for b in np.flatnonzero(counts):
        members = np.flatnonzero(idx == b)
        k = np.arange(members.size)
        out[members] = np.where(k % 2 == 0, 1, -1) * ((k + 1) // 2) * scale
    return out


def shap_beeswarm(views: dict) -> bytes | None:
    """Each sampled row's SHAP value per group (strongest groups on top), dots shaded by the
    rank of the value of the group's strongest feature (light = low, dark = high)."""
    import numpy as np

    values = np.asarray(views["beeswarm"]["values"], dtype=float)
    if values.size == 0:
        return None
    shade = np.array([[np.nan if s is None else s for s in row]
                      for row in views["beeswarm"]["shade"]], dtype=float)
    groups = views["groups"]
    order = np.argsort(-np.abs(values).mean(axis=0), kind="stable")[:_MAX_GROUPS]
    fig = Figure(figsize=(7.5, 1.2 + 0.42 * len(order)))
    ax = fig.add_subplot()
    im = None
    for y, k in enumerate(order[::-1]):
        x = values[:, k]
        dy = _swarm_offsets(x)
        known = np.isfinite(shade[:, k])
        ax.scatter(x[~known], y + dy[~known], s=7, facecolors="none", edgecolors="0.5",
                   linewidths=0.5)
        im = ax.scatter(x[known], y + dy[known], s=7, c=shade[known, k], cmap="Greys",
                        vmin=-0.15, vmax=1.0, edgecolors="none")
    ax.axvline(0, color="0.4", linewidth=0.8)
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels([groups[k] for k in order[::-1]], fontsize=8)
    ax.set_xlabel("SHAP value of the group (log-odds; right = raises the risk score)")
    ax.set_title(f"SHAP values by attribute group ({views['n_rows']:,} test rows)", fontsize=10)
    if im is not None:
        bar = fig.colorbar(im, ax=ax, fraction=0.04, ticks=[0, 1])
        bar.ax.set_yticklabels(["low", "high"], fontsize=7)
        bar.set_label("value of the group's strongest feature (rank)", fontsize=8)
    ax.grid(axis="x", color="0.85", linewidth=0.6)
    return _png(fig)


def shap_dependence(views: dict) -> bytes | None:
    """The strongest contested group: its strongest feature's value against the group's SHAP
    value, one dot per sampled row (missing values drawn at the left edge as crosses)."""
    import numpy as np

    dep = views.get("dependence")
    if not dep:
        return None
    x = np.asarray(dep["x"], dtype=float)
    y = np.asarray(dep["values"], dtype=float)
    fig = Figure(figsize=(7.0, 4.2))
    ax = fig.add_subplot()
    finite = np.isfinite(x)
    ax.scatter(x[finite], y[finite], s=8, color="black", alpha=0.45, edgecolors="none")
    if (~finite).any():
        left = np.nanmin(x) if finite.any() else 0.0
        ax.scatter(np.full((~finite).sum(), left), y[~finite], s=14, marker="x", color="0.4",
                   linewidths=0.7, label="value missing")
        ax.legend(fontsize=7, loc="best")
    ax.axhline(0, color="0.4", linewidth=0.8)
    ax.set_xlabel(f"{dep['feature']} (feature of '{dep['group']}')")
    ax.set_ylabel(f"SHAP value of '{dep['group']}' (log-odds)")
    ax.set_title(f"Dependence: how '{dep['group']}' moves the score with its value", fontsize=10)
    ax.grid(color="0.85", linewidth=0.6)
    return _png(fig)


def shap_waterfalls(views: dict) -> bytes | None:
    """Waterfalls of typical scored rows (low, middle, high score): from the base score, each
    group's points of the 0-100 score (black: raises it, white: lowers it)."""
    cases = views.get("waterfalls") or []
    if not cases:
        return None
    fig = Figure(figsize=(7.5, 3.2 * len(cases)))
    for i, case in enumerate(cases):
        ax = fig.add_subplot(len(cases), 1, i + 1)
        items = sorted(case["points"].items(), key=lambda kv: -abs(kv[1]))
        shown, rest = items[:_MAX_GROUPS - 1], items[_MAX_GROUPS - 1:]
        if rest:
            shown.append((f"{len(rest)} other groups", sum(v for _, v in rest)))
        level = views["base_score"]
        labels = []
        for y, (name, pts) in enumerate(shown):
            face = "black" if pts >= 0 else "white"
            ax.barh(y, pts, left=level, color=face, edgecolor="black", linewidth=0.8,
                    height=0.6)
            ax.annotate(f"{pts:+.1f}", (max(level, level + pts), y), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize=7)
            level += pts
            labels.append(name)
        if abs(case["score"] - views["base_score"]) < 0.05:
            ax.text(0.5, 0.5, "the score equals the base score (the calibration maps both to "
                    "one step):\nno group moved it", transform=ax.transAxes, ha="center",
                    va="center", fontsize=8,
                    bbox={"facecolor": "white", "edgecolor": "0.6", "linewidth": 0.6})
        ax.axvline(views["base_score"], color="0.4", linewidth=0.8, linestyle=":")
        ax.axvline(case["score"], color="black", linewidth=0.9, linestyle="--")
        ax.set_yticks(range(len(shown)))
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(f"A typical row near the {case['percentile']}th score percentile: score "
                     f"{case['score']:.1f} (base {views['base_score']:.1f}, dotted; "
                     "score, dashed)", fontsize=9)
        ax.set_xlabel("score points (0-100)", fontsize=8)
        ax.grid(axis="x", color="0.85", linewidth=0.6)
    fig.tight_layout()
    return _png(fig)


#: SHAP view name -> (function, caption).
SHAP_VIEWS = {
    "shap_beeswarm": (shap_beeswarm, "SHAP values of each attribute group over a sample of "
                      "test rows; shade: the value of the group's strongest feature."),
    "shap_dependence": (shap_dependence, "The strongest contested group's SHAP value against "
                        "its strongest feature's value."),
    "shap_waterfalls": (shap_waterfalls, "Score points of each group for typical rows with a "
                        "low, middle and high score, from the base score."),
}


#: The last views drawn and their PNGs: a study logs its views and then writes its report in
#: the same process, and the figures are pure functions of the data (no timestamp in the PNG).
_last: tuple[str, dict[str, bytes]] | None = None


def render_shap_views(views: dict) -> dict[str, bytes]:
    """name -> PNG bytes of each SHAP view ``views`` (explanation_views) has data for; the
    same data again (equal to the last digit, as after study.json's round trip) is not drawn
    twice."""
    global _last
    key = json.dumps(views, sort_keys=True, default=repr)
    if _last is not None and _last[0] == key:
        return dict(_last[1])
    out = {name: fn(views) for name, (fn, _caption) in SHAP_VIEWS.items()}
    drawn = {k: v for k, v in out.items() if v is not None}
    _last = (key, drawn)
    return dict(drawn)
