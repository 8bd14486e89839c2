"""The family contract (nsf.study.families): every registered family, run on the smoke data,
shows its section in study.json, its view in the report and its metrics in MLflow; and a toy
family defined here, added to the registry alone, appears in all three."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nsf.config import load_config
from nsf.study import FamilySection
from nsf.study.families import FAMILIES, Family, Proposal, with_changes
from nsf.views import FamilyView, para
from tests.conftest import SHRINK, SMOKE, _chdir


def _variant_runs(cfg, parent: str) -> dict[str, dict]:
    """Variant name -> the tags and metrics of its run below the study run ``parent``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(cfg.tracking.uri)
    experiment = client.get_run(parent).info.experiment_id
    runs = client.search_runs([experiment], f"tags.`nsf.study_run` = '{parent}' and "
                                            "tags.`nsf.role` = 'variant'", max_results=1000)
    return {r.data.tags["nsf.variant"]: {"tags": r.data.tags, "metrics": r.data.metrics}
            for r in runs}


def _check_family(family: Family, study, record, runs: dict, model: dict, markdown: str):
    """One family that ran: its variants' runs, its section, its view and its metrics."""
    for v in study.variants_of(family.name):
        assert runs[v.name]["tags"]["nsf.family"] == family.name, v.name
    present = study.sections.present()
    if family.section is None:
        assert study.variants_of(family.name), f"{family.name}: ran without a variant"
        return
    section = present[family.name]
    assert isinstance(section, family.section)
    # study.json holds it, typed.
    assert json.loads(study.to_json())["sections"][family.name] is not None
    if family.view is not None:
        entry = model["family_sections"][family.name]
        assert entry["title"] == family.view.title
        assert f"{family.view.title}" in markdown
    if family.metrics is not None:
        expected = family.metrics(section)
        assert expected, f"{family.name}: no parent-run metric"
        for key, value in expected.items():
            assert record.metrics[key] == pytest.approx(value), key
    if family.arm_metrics is not None:
        for name, run in runs.items():
            extra = {k: x for k, x in family.arm_metrics(section, name).items()
                     if x is not None}
            for key in extra:
                assert key in run["metrics"] or f"x/{key}" in run["metrics"], (name, key)


def test_every_registered_family_has_its_section_view_and_metrics(smoke_study):
    from nsf.tracking.report import load_study

    cfg = load_config(SMOKE, smoke_study["sets"])
    record = load_study(cfg.tracking, smoke_study["parent"])
    study = record.study
    # The report the study wrote at its end.
    folder = smoke_study["root"] / "reports" / "smoke" / smoke_study["parent"]
    model = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    # The families' sections are in the technical appendix.
    markdown = (folder / "appendix.md").read_text(encoding="utf-8")
    runs = _variant_runs(cfg, smoke_study["parent"])
    skipped = {f.family: f.reason for f in study.skipped_families}
    ran = []
    for name, family in FAMILIES.items():
        if name in skipped:
            # A family that cannot apply says why, in the result and the report.
            assert skipped[name]
            assert {"family": name, "reason": skipped[name]} in model["skipped_families"]
            continue
        assert name in study.families, name
        _check_family(family, study, record, runs, model, markdown)
        ran.append(name)
    # The smoke study runs the families with a section of their own and most others.
    assert {"volume", "decisions"} <= set(ran)
    assert len(ran) >= len(FAMILIES) - 2


# --- a toy family: its module is this test, its registry line a monkeypatch ------------------


class ToySection(FamilySection):
    """The toy family's section: the baseline's mean test probability over seeds."""

    mean_probability: float
    n_test: int
    variants: list[str]


def _toy_applies(ctx) -> str | None:
    return None if ctx.used_groups else "no attribute group"


def _toy_variants(ctx) -> list[Proposal]:
    group = ctx.used_groups[-1]
    return [Proposal(f"toy_without_{group}", with_changes(
        ctx.base, drop_groups=(*ctx.base.drop_groups, group)), f"toy: without {group}",
        groups=(group,))]


def _toy_procedure(run, attributes) -> ToySection:
    outs = [run.outcomes[k] for k in run.keys(run.baseline)]
    return ToySection(mean_probability=float(np.mean([o.p_test.mean() for o in outs])),
                      n_test=int(outs[0].p_test.size),
                      variants=[v.name for v in run.variants if v.family == "toy"])


def _toy_blocks(content: dict) -> list[dict]:
    return [para(f"Toy: mean probability {content['mean_probability']:.4f} over "
                 f"{content['n_test']} test rows.")]


TOY = Family(
    "toy", "Is the toy's question answered?", "an attribute group", _toy_applies,
    _toy_variants, section=ToySection, procedure=_toy_procedure,
    metrics=lambda s: {"toy_mean_probability": s.mean_probability},
    view=FamilyView("Toy family", model=lambda section, study: section.model_dump(mode="json"),
                    blocks=_toy_blocks,
                    summary=lambda c: {"question": "Is the toy's question answered?",
                                       "answer": f"toy {c['mean_probability']:.4f}"}))


@pytest.mark.slow
def test_a_toy_family_in_the_registry_alone_appears_everywhere(smoke_study, tmp_path,
                                                               monkeypatch):
    """Adding a family is its module and its registry line: the toy's variant runs, its
    section is in study.json, its metric on the parent run, its view in the report."""
    from typer.testing import CliRunner

    from nsf.cli import app
    from nsf.tracking.report import load_study

    monkeypatch.setitem(FAMILIES, "toy", TOY)
    sets = [f"simulate.data_dir={smoke_study['data'].parent}",
            f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}", *SHRINK,
            "study.families=[toy]", "study.workers=1", "study.audit=false"]
    args = [a for item in sets for a in ("--set", item)]
    with _chdir(tmp_path):
        out = CliRunner().invoke(app, ["study", str(SMOKE), "--quiet", *args],
                                 catch_exceptions=False)
    assert out.exit_code == 0, out.output
    parent = next(line.split()[2] for line in out.output.splitlines()
                  if line.startswith("study run "))
    cfg = load_config(SMOKE, sets)
    record = load_study(cfg.tracking, parent)
    study = record.study
    assert study.families == ["toy"]
    section = study.sections.present()["toy"]
    assert isinstance(section, ToySection) and section.variants == [study.variants[0].name]
    assert json.loads(study.to_json())["sections"]["toy"]["n_test"] == section.n_test
    assert study.timing.toy >= 0
    folder = tmp_path / "reports" / "smoke" / parent
    model = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    markdown = (folder / "appendix.md").read_text(encoding="utf-8")
    assert f"Toy: mean probability {section.mean_probability:.4f}" in markdown
    assert any(s["key"] == "toy" for s in model["summary"])
    _check_family(TOY, study, record, _variant_runs(cfg, parent), model, markdown)
