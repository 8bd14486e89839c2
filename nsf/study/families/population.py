"""population: does training on everyone with a proxy label help, against the evaluation
population with its own label?"""

from __future__ import annotations

from nsf.study.families.base import Family, FamilyContext, Proposal


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


FAMILY = Family("population", "Does a wider training population with a proxy label help?",
                "a population column and a proxy label", applies, variants)
