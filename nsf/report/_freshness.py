"""The report's view of the freshness family: a model frozen at its build date against models
retrained on a schedule, date by date (registered with :func:`register_family_section`)."""

from __future__ import annotations

from matplotlib.figure import Figure

from nsf.report._document import fmt, interval
from nsf.report._families import register_family_section
from nsf.report._quantity import _MARKERS, _note, _num, _p, _png, _table

CAPTION = ("Freshness: per scored date, the metric of each schedule's retrained model minus "
           "the frozen model's, with its simultaneous interval (dates before a schedule's "
           "first retraining have none); dashed: plus and minus the margin. Above the margin "
           "with the whole interval: fresh data was needed.")


def freshness_model(section, study) -> dict:
    """The freshness section's numbers for ``report.json`` (the section as logged)."""
    return section.model_dump(mode="json")


def freshness_blocks(content: dict) -> list[dict]:
    metric = content["metric"].upper()
    blocks: list[dict] = [_p(
        f"After the model is built, does it need fresh data? A model frozen at the build date "
        f"({content['build_date']}) against the same model retrained on a schedule, each "
        f"trained on the latest {content['train_dates']} observation dates whose outcomes "
        f"were known ({content['horizon_days']} days after their date) at its training date, "
        "so the two differ only in the age of their data. Both are scored on every date from "
        "the build on, with the study's seeds; the gain is the retrained model's "
        f"{metric} minus the frozen one's, with paired intervals over rows and seeds that hold "
        f"simultaneously over the family's {content['comparisons']} comparisons (each at "
        f"{fmt(content['confidence'], 'pct')}). 'needed': the fresh data gained more than the "
        f"margin ({fmt(content['margin'])} {metric}); 'not shown needed': the frozen model "
        "was non-inferior.")]
    blocks += [_note(n) for n in content.get("notes") or []]
    windows = [[w["trained_at"], ", ".join(w["dates"])] for w in content["windows"]]
    blocks.append(_table("Models trained (training date: observation dates used)",
                         ["trained at", "observation dates"], windows))
    for sch in content["schedules"]:
        body = []
        for r in sch["dates"]:
            g, a = r.get("gain"), r.get("against_most_frequent")
            body.append([r["date"], str(r["days_after_build"]), r["model_trained_at"],
                         f"{r['rows']:,} ({r['positives']:,})", fmt(r["frozen"]),
                         fmt(r["schedule"]),
                         "-" if g is None else fmt(g["estimate"], "+3"),
                         "-" if g is None else interval(g["lower"], g["upper"]),
                         "-" if g is None else (g.get("verdict") or "n/a"),
                         "-" if a is None else f"{fmt(a['estimate'], '+3')} "
                         f"{interval(a['lower'], a['upper'])} {a.get('verdict') or ''}"])
        blocks.append(_table(
            f"{sch['name'].capitalize()} retraining (every {sch['days']} days) against the "
            f"frozen model: {sch['verdict']}",
            ["date", "days after build", "model of", "rows (NSF)", f"frozen {metric}",
             f"{sch['name']} {metric}", "gain", "interval", "verdict",
             "against the most frequent"], body, {3, 4, 5, 6, 7}))
    if any(r.get("gain") for sch in content["schedules"] for r in sch["dates"]):
        blocks.append({"type": "figure", "name": "freshness", "caption": CAPTION})
    blocks.append(_p("Answer: " + content["answer"]))
    return blocks


def _freshness_figure(content: dict) -> bytes | None:
    import datetime as dt

    schedules = [s for s in content.get("schedules") or [] if any(r.get("gain")
                                                                   for r in s["dates"])]
    if not schedules:
        return None
    fig = Figure(figsize=(7.5, 3.8))
    ax = fig.add_subplot()
    margin = float(content["margin"])
    width = 4.0
    for i, sch in enumerate(schedules):
        offset = (i - (len(schedules) - 1) / 2) * width
        seen = set()
        for r in sch["dates"]:
            g = r.get("gain")
            if g is None or _num(g.get("estimate")) is None:
                continue
            x = r["days_after_build"] + offset
            if _num(g.get("lower")) is not None and _num(g.get("upper")) is not None:
                ax.plot([x, x], [g["lower"], g["upper"]], color="black", linewidth=1.0,
                        marker="_", markersize=8)
            marker, face = _MARKERS.get(g.get("verdict"), _MARKERS[None])
            if i % 2:
                marker = "s" if marker == "o" else "^"
            label = f"{sch['name']}: {g.get('verdict')}"
            ax.plot([x], [g["estimate"]], marker=marker, markerfacecolor=face,
                    markeredgecolor="black", linestyle="none", markersize=7, zorder=3,
                    label=None if label in seen else label)
            seen.add(label)
    ax.axhline(0.0, color="black", linewidth=0.8)
    for y in (margin, -margin):
        ax.axhline(y, color="0.4", linewidth=0.8, linestyle="--")
    build = dt.date.fromisoformat(content["build_date"])
    ax.set_xlabel(f"days after the build ({build.isoformat()})")
    ax.set_ylabel(f"{content['metric'].upper()} gain of retraining")
    ax.set_title("Freshness: retrained minus frozen, date by date", fontsize=10)
    ax.grid(color="0.85", linewidth=0.6)
    ax.legend(fontsize=7, loc="best")
    return _png(fig)


def freshness_figures(content: dict) -> dict[str, bytes]:
    png = _freshness_figure(content)
    return {} if png is None else {"freshness": png}


def freshness_summary(content: dict) -> dict | None:
    return {"question": "After the build, did retraining on new data help, from when, and by "
                        "how much?", "answer": content["answer"]}


register_family_section("freshness", title="Freshness: does the model need new data after "
                        "it is built?", model=freshness_model, blocks=freshness_blocks,
                        figures=freshness_figures, summary=freshness_summary)
