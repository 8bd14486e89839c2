"""The technical appendix's record: the model card, the method and assumptions, and the
reproducibility record (with the config a table study reads)."""

from __future__ import annotations

import json
from typing import Any

import yaml

from nsf.report._appendix_blocks import _h, _kv, _list, _note, _p, _simulated, _table, _words
from nsf.report._schema import ReportModel
from nsf.study import SeedSummary
from nsf.views import fmt


def _model_card(m: ReportModel, figs: dict[str, bytes]) -> list[dict]:
    mc = m.model_card
    d = mc.details
    blocks: list[dict] = [_h("Model details"), _kv([
        ("model", str(d.model)), ("score", d.score), ("target", d.target),
        ("training population / label", f"{d.population} / {d.label}"),
        ("features", fmt(d.n_features, "int")),
        ("seeds", ", ".join(str(s) for s in d.seeds)), ("developed by", d.developed_by),
        ("MLflow runs (baseline per seed)", ", ".join(rid or "not logged" for rid in d.run_ids))])]
    blocks += [_h("Intended use"), _list(mc.intended_use)]
    fac = mc.factors
    blocks += [_h("Factors"), _p("Evaluated: " + (", ".join(fac.evaluated) or "none")
                                 + ". " + fac.note)]
    met = mc.metrics
    blocks += [_h("Metrics"), _p(
        f"Primary: {str(met.primary).upper()}. Reported: "
        + ", ".join(met.reported) + f". Operating threshold {met.threshold}: "
        f"{met.threshold_meaning}. Uncertainty: {met.uncertainty}.")]
    ev, tr = mc.evaluation_data, mc.training_data
    blocks += [_h("Evaluation data"), _kv([
        ("split", str(ev.split)), ("test rows", fmt(ev.test_rows, "int")),
        (f"test {_words(m).positive} rate", fmt(ev.test_nsf_rate, "pct")),
        ("test rows digest", str(ev.test_digest)),
        *([("plain cross-validated AUC (no calibration fold)", fmt(ev.plain_cv_auc))]
          if ev.plain_cv_auc is not None else [])])]
    blocks += [_h("Training data"), _kv([
        ("kind", str(tr.kind)), ("source", str(tr.source)),
        ("dataset digest", str(tr.digest)), ("training rows", fmt(tr.train_rows, "int")),
        ("validation rows", fmt(tr.validation_rows, "int"))])]
    qa = mc.quantitative_analyses
    blocks += [_h("Quantitative analyses"), _table(
        "Baseline test metrics over seeds (group breakdowns: section 5)",
        ["metric", "mean", "SD", "per seed"],
        [_metric_row(k if _simulated(m) else k.replace("nsf_rate", "positive_rate"), v)
         for k, v in qa.items()], {1, 2})]
    blocks += [_h("Ethical considerations"), _list(mc.ethical_considerations),
               _h("Caveats and recommendations"), _list(mc.caveats)]
    return blocks


def _metric_row(name: str, v: SeedSummary) -> list[str]:
    """A metric over seeds; a yes/no check (every seed 0 or 1) as how many seeds passed."""
    seeds = v.per_seed
    if seeds and all(x in (0, 1, 0.0, 1.0) for x in seeds) and not name.endswith(
            ("auc", "brier", "ece", "log_loss", "ks", "gini", "rate")):
        yes = sum(1 for x in seeds if x)
        return [name + " (a yes/no check)", f"yes in {yes} of {len(seeds)} seeds", "",
                ", ".join("yes" if x else "no" for x in seeds)]
    return [name, fmt(v.mean), fmt(v.sd, "4"), ", ".join(fmt(x) for x in seeds)]


def _value(v: Any) -> str:
    if isinstance(v, list | dict):
        return json.dumps(v)
    return "not set" if v is None else str(v)


def _not_set(text: str | None) -> str:
    """A config field's description with ``null`` (YAML for "not set") in words."""
    import re

    return re.sub(r"\bnull\b", "not set", text or "")


def _method(m: ReportModel, figs: dict[str, bytes]) -> list[dict]:
    meth = m.method
    rows = [[a.field, a.source, _value(a.value)
             + ("" if not a.changed else f" (default {_value(a.default)})"),
             _not_set(a.description)] for a in meth.assumptions]
    n_case = sum(a.source == "CASE" for a in meth.assumptions)
    if _simulated(m):
        blocks: list[dict] = [_h("The simulator's facts and assumptions"), _p(
            f"{n_case} settings are facts of the public record [CASE]; "
            f"{len(rows) - n_case} are the project's assumptions [ASSUMPTION]. Values are the "
            "ones this study used (a changed default is marked).")]
        blocks.append(_table("Facts and assumptions with their source",
                             ["setting", "source", "value", "meaning"], rows))
    else:
        blocks = [_h("Assumptions"), _p(
            f"{len(rows)} settings of this study are the project's assumptions [ASSUMPTION]. "
            "Values are the ones this study used (a changed default is marked).")]
        blocks.append(_table("Assumptions", ["setting", "source", "value", "meaning"], rows))
    cal = meth.calibration
    if _simulated(m):
        blocks.append(_h("Calibration summary"))
    if not _simulated(m):
        pass
    elif cal.available:
        if cal.note:
            blocks.append(_p(cal.note))
        blocks.append(_table("Simulated world against its calibration targets",
                             ["quantity", "meaning", "target", "simulated", "relative error"],
                             [[r.name, r.meaning or "", fmt(r.target, "g"),
                               fmt(r.simulated), fmt(r.relative_error, "pct")]
                              for r in cal.rows], {2, 3, 4}))
        if cal.oracle:
            o = cal.oracle
            blocks.append(_p(
                f"Oracle check on {fmt(o.rows, 'int')} evaluation rows: mean true "
                f"P(NSF) {fmt(o.mean_p_nsf_appstore)} against a realised rate of "
                f"{fmt(o.realised_nsf_appstore_rate)}."))
    else:
        blocks.append(_note(f"Unavailable: {cal.note}."))
    blocks += [_h("Statistics"), _list(meth.statistics), _h("Limitations"),
               _list(meth.limitations)]
    return blocks


def _reproducibility(m: ReportModel, figs: dict[str, bytes]) -> list[dict]:
    r = m.reproducibility
    blocks: list[dict] = [_kv([
        ("experiment seed", str(r.experiment_seed)),
        ("training seeds", ", ".join(str(s) for s in r.seeds)),
        ("dataset digest", str(r.dataset_digest)), ("dataset folder", str(r.dataset_source)),
        ("test rows digest", str(r.test_digest)), ("git commit", str(r.git_commit)),
        ("MLflow tracking URI", str(m.source.tracking_uri)),
        ("parent run (study)", str(r.run_ids.parent)),
        ("audit run", str(r.run_ids.audit or "none")),
        ("fits trained / reused", "n/a" if not r.fits else
         f"{r.fits.trained} / {r.fits.reused}"),
        ("report generated", str(m.generated_at))], "Provenance")]
    blocks += [_h("Commands to rerun"), {"type": "pre", "text": "\n".join(r.commands)}]
    children = r.run_ids.children
    if children:
        blocks.append(_table("Child runs (variant x seed)", ["variant", "seed: run id"],
                             [[v, [f"seed {s}: {rid}" for s, rid in seeds.items()]]
                              for v, seeds in children.items()]))
    blocks.append(_table("Package versions (the environment that generated this report)",
                         ["package", "version"], [[k, v] for k, v in r.packages.items()]))
    text = r.config_yaml
    if not text:
        text = "# config.yaml not logged; not available"
    elif not _simulated(m):
        text = _table_config(text, set(m.settings.families or []))
    blocks += [_h("Resolved config"), {"type": "pre", "text": text}]
    return blocks


#: What a table study's config leaves out (the full config is config.yaml beside the report),
#: as a nested exclusion: ``True`` drops a key, a mapping prunes inside it. The sections only a
#: simulated study reads, the data ledger (a simulated study's), and the signing key, which
#: vouches for a simulated dataset's manifest.
_TABLE_EXCLUDE: dict[str, Any] = {
    "world": True, "simulate": True, "audit": True, "target": True,
    "study": {"ledger": True},
    "dataset": {"signing_key": True, "signing_key_env": True},
}


def _pruned(node: dict, exclude: dict[str, Any]) -> dict:
    """``node`` without what ``exclude`` names (nested, as pydantic's ``exclude``)."""
    out = {}
    for key, value in node.items():
        if key not in exclude:
            out[key] = value
        elif exclude[key] is not True:
            out[key] = _pruned(value, exclude[key]) if isinstance(value, dict) else value
    return out


def _table_config(text: str, ran: set[str]) -> str:
    config = yaml.safe_load(text) or {}
    if not isinstance(config, dict):
        return text
    # The policy prices decisions; without the decisions family nothing read it.
    exclude = _TABLE_EXCLUDE | ({"policy": True} if "decisions" not in ran else {})
    return ("# the settings a table study reads (the full config, with the sections it does "
            "not read, is config.yaml beside this report)\n"
            + yaml.safe_dump(_pruned(config, exclude), sort_keys=False, allow_unicode=True))
