"""population: does training on everyone with a proxy label help, against the evaluation
population with its own label?"""

from __future__ import annotations

from nsf.study.families.base import Family, FamilyContext, Proposal
from nsf.views import ComparisonView
from nsf.vocabulary import NOT_SHOWN_NEEDED


def applies(ctx: FamilyContext) -> str | None:
    d = ctx.description
    if d.population_column is None or d.proxy_label_column is None:
        return ("needs a population column and a proxy label defined outside the population "
                "(the dataset has " + ("no population column" if d.population_column is None
                                       else "no proxy label") + ")")
    if ctx.prepared.target.population != "apple":
        return "the model already trains on every row (target.population: all)"
    return None


def variants(ctx: FamilyContext) -> list[Proposal]:
    d = ctx.description
    return [Proposal(
        "train_all_users_nsf_any", ctx.base, population="all", label="nsf_any",
        subject="added",
        description=f"trained on every row with the {d.proxy_label_column} proxy label "
        f"(evaluated on {d.population} with {d.target_column})")]


def ledger_population(result, facts=None, pool=None) -> dict:
    """The ledger's training pool: the Apple-registered users alone unless the family showed
    the other users needed."""
    variants = result.variants_of("population")
    apple = (result.config.get("target") or {}).get("population", "apple") == "apple"
    if not variants:
        return {"apple_only": apple, "verdict": "not studied (family population did not run); "
                f"the baseline trains on {'Apple-registered users' if apple else 'every user'}"}
    v = variants[0]
    only = v.verdict == NOT_SHOWN_NEEDED
    return {"apple_only": only, "verdict": f"population: training on every user "
            f"{'was not shown needed' if only else f'is kept ({v.verdict})'} against the "
            "Apple-registered users alone"}


FAMILY = Family("population", "Does a wider training population with a proxy label help?",
                "a population column and a proxy label", applies, variants,
                ledger=ledger_population, ledger_role="population",
                comparisons=ComparisonView("population.rows", reference=None))
