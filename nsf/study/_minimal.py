"""Backward search for a minimal sufficient set of contested attribute groups."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nsf.metrics import NOT_SHOWN_NEEDED

#: evaluate(list of removal sets) -> one comparison per set, each a dict with at least
#: ``estimate``, ``lower``, ``upper`` and ``verdict`` of the primary metric against the baseline.
Evaluate = Callable[[list[tuple[str, ...]]], list[dict]]


def minimal_sufficient_set(groups: Sequence[str], evaluate: Evaluate, *, strategy: str,
                           higher_is_better: bool = True, max_steps: int | None = None,
                           ) -> dict:
    """Remove contested groups one at a time while the model stays non-inferior to the
    baseline (the verdict of the removal set is "not shown needed").

    Every removal set is compared with the *baseline* (all groups), never with the previous
    step, so the losses of successive removals cannot add up beyond the margin unnoticed.

    Parameters
    ----------
    groups : the contested groups, for ``"ranked"`` in the order to try them (cheapest
        drop-one loss first).
    evaluate : trains and compares removal sets (see :data:`Evaluate`); called with several
        sets at once so they can be trained in parallel.
    strategy : ``"ranked"``: try each group once in the given order and keep its removal when
        the set stays non-inferior (one retraining per group). ``"greedy"``: each step tries
        every remaining group, removes the one whose set has the best worst case (interval
        bound) among the non-inferior ones, and stops when none is non-inferior.
    higher_is_better : direction of the primary metric (picks the best worst case).
    max_steps : stop after this many evaluation rounds.

    Returns
    -------
    dict
        ``{"strategy", "removed": [...], "kept": [...], "steps": [{"step", "candidate",
        "removal_set", "estimate", "lower", "upper", "verdict", "accepted"}], "complete"}``;
        ``complete`` is False when ``max_steps`` cut the search short.

    Notes
    -----
    The search runs many sequential non-inferiority checks; the set it returns is sufficient
    by its own final check, but the search is not a confirmatory procedure (its choices depend
    on the data), and another order could find another set.
    """
    if strategy not in ("ranked", "greedy"):
        raise ValueError(f"strategy must be 'ranked' or 'greedy', got {strategy!r}")
    removed: list[str] = []
    remaining = list(groups)
    steps: list[dict] = []
    rounds = 0
    complete = True

    def record(candidate, removal, result, accepted):
        steps.append({"step": len(steps) + 1, "candidate": candidate,
                      "removal_set": list(removal), "estimate": result["estimate"],
                      "lower": result["lower"], "upper": result["upper"],
                      "verdict": result["verdict"], "accepted": accepted, "round": rounds})

    if strategy == "ranked":
        for g in list(remaining):
            if max_steps is not None and rounds >= max_steps:
                complete = False
                break
            rounds += 1
            trial = (*removed, g)
            (result,) = evaluate([trial])
            ok = result["verdict"] == NOT_SHOWN_NEEDED
            record(g, trial, result, ok)
            if ok:
                removed.append(g)
                remaining.remove(g)
    else:
        while remaining:
            if max_steps is not None and rounds >= max_steps:
                complete = False
                break
            rounds += 1
            trials = [(*removed, g) for g in remaining]
            results = evaluate(trials)
            ok = [(g, t, r) for g, t, r in zip(remaining, trials, results, strict=True)
                  if r["verdict"] == NOT_SHOWN_NEEDED]
            # Best worst case: the highest lower bound (lowest upper bound for a loss).
            best = None
            if ok:
                key = (lambda x: x[2]["lower"]) if higher_is_better else \
                    (lambda x: -x[2]["upper"])
                best = max(ok, key=key)
            for g, t, r in zip(remaining, trials, results, strict=True):
                record(g, t, r, best is not None and g == best[0])
            if best is None:
                break
            removed.append(best[0])
            remaining.remove(best[0])
    kept = [g for g in groups if g not in removed]
    return {"strategy": strategy, "removed": removed, "kept": kept, "steps": steps,
            "complete": complete}
