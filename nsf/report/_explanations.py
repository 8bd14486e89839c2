"""The report's view of the study's explanations section (registered as a family section)."""

from __future__ import annotations

from nsf.report._families import register_family_section
from nsf.report._figures import SHAP_VIEWS, render_shap_views
from nsf.study import ExplanationsSection


def _pct(x) -> str:
    return "-" if x is None else f"{100.0 * x:.1f}%"


def _num(x, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _model(section, study) -> dict:
    return section.model_dump(mode="json")


def _blocks(data: dict) -> list[dict]:
    content = ExplanationsSection.model_validate(data)
    blocks: list[dict] = [{"type": "p", "text": (
        f"SHAP values of the baseline model ({content.method}) on {content.rows:,} "
        "evenly spaced test rows, in the model's log-odds, summed by attribute group. The "
        "score points of a row share its score change from the base score in proportion to "
        "its groups' SHAP values (the points nsf score --reasons writes). No view shows an "
        "identifier: dots and waterfalls are test rows without their keys.")}]
    for name, (_fn, caption) in SHAP_VIEWS.items():
        blocks.append({"type": "figure", "name": name, "caption": caption})
    pairs = content.stability
    threshold = content.stability_threshold
    if pairs:
        rows = [[f"{p.a} vs {p.b}", _num(p.correlation),
                 f"[{_num(p.lower)}, {_num(p.upper)}]",
                 "-" if p.stable is None else ("yes" if p.stable else "no")]
                for p in pairs]
        blocks.append({"type": "table", "caption": (
            f"Stability of the reliance ranking across seeds: {content.stability_method} "
            f"rank correlation of the groups' mean |SHAP| with its "
            f"{100 * content.stability_level:.0f}% bootstrap interval over the explained "
            f"rows; stable when the lower end reaches {threshold:g}"),
            "headers": ["seeds", "correlation", "interval", "stable"], "rows": rows,
            "numeric": [1]})
        if content.stable is False:
            blocks.append({"type": "note", "text": (
                "Which data the model leans on is NOT stable enough to act on: a retrained "
                "model (another seed) ranks the attribute groups differently (interval below "
                f"{threshold:g}). Read the reliance shares as one model's, not as a property "
                "of the data.")})
        elif content.stable:
            blocks.append({"type": "p", "text": (
                "The ranking of the groups by reliance is stable across seeds (every interval "
                f"reaches {threshold:g}).")})
    else:
        blocks.append({"type": "note", "text": "Stability across seeds needs at least two "
                                               "seeds: not measured."})
    blocks.append({"type": "note", "text": "Stability across model families is not measured "
                   "by the study (one family per study); nsf.explain.reliance_stability "
                   "compares any explained fits."})
    withheld = content.withheld
    if withheld:
        blocks.append({"type": "table", "caption": (
            f"Per person: share of the {content.n_test_rows:,} test rows whose decision "
            f"(score >= {content.threshold}) or score band would not change if the group "
            "were withheld from them alone (the model unchanged; the group's values replaced "
            "by what the model assumes when they are missing); mean over seeds"),
            "headers": ["group", "decision unchanged", "band unchanged", "both unchanged",
                        "score unchanged", "mean |change| (points)"],
            "rows": [[w.group, _pct(w.decision_unchanged), _pct(w.band_unchanged),
                      _pct(w.both_unchanged), _pct(w.score_unchanged),
                      _num(w.mean_abs_change)] for w in withheld],
            "numeric": [1, 2, 3, 4, 5]})
    return blocks


def _figures(data: dict) -> dict[str, bytes]:
    content = ExplanationsSection.model_validate(data)
    return render_shap_views(content.views) if content.views else {}


register_family_section("explanations", title="Explanations: SHAP views, stability and the "
                        "per-person view", model=_model, blocks=_blocks, figures=_figures,
                        position=40)
