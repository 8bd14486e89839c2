"""Write ``examples/credit.csv``: a small synthetic credit table shaped like public credit data.

One row per applicant, no id column, a text target (``good`` / ``bad``), numeric and text
features, and two protected attributes under their own names: ``age_in_years`` (numeric) and
``sex`` (text). Every value is drawn from the seeded generator below; no real person is in it.

    python examples/make_credit_table.py [OUT.csv] [--rows N] [--seed S]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def credit_table(n_rows: int = 1000, seed: int = 7) -> pd.DataFrame:
    """The synthetic table: risk rises with the loan's size and duration and falls with savings
    and checking balance; age and sex shift savings and housing (so they have proxies) but the
    outcome depends on them only through those columns."""
    rng = np.random.default_rng(seed)
    age = np.clip(np.round(rng.gamma(2.2, 7.0, n_rows) + 19), 19, 75).astype(int)
    sex = rng.choice(["female", "male"], n_rows, p=[0.31, 0.69])
    savings_level = np.clip(np.round(rng.normal(1.0 + (age - 35) / 20, 1.0, n_rows)), 0, 4)
    savings = np.array(["none", "<100", "100-500", "500-1000", ">=1000"])[
        savings_level.astype(int)]
    checking = rng.choice(["none", "<0", "0-200", ">=200"], n_rows, p=[0.39, 0.27, 0.27, 0.07])
    duration = rng.choice([6, 9, 12, 15, 18, 24, 30, 36, 48, 60], n_rows)
    amount = np.round(np.exp(rng.normal(7.8, 0.7, n_rows) + duration / 60)).astype(int)
    housing = np.where(rng.random(n_rows) < 0.2 + 0.3 * (sex == "male") + (age > 40) * 0.2,
                       "own", rng.choice(["rent", "free"], n_rows, p=[0.8, 0.2]))
    purpose = rng.choice(["car", "furniture", "radio/tv", "education", "business", "repairs"],
                         n_rows, p=[0.33, 0.18, 0.28, 0.06, 0.1, 0.05])
    existing_credits = rng.choice([1, 2, 3, 4], n_rows, p=[0.63, 0.33, 0.03, 0.01])
    check_score = {"none": -0.9, "<0": 0.8, "0-200": 0.3, ">=200": -0.3}
    logit = (-1.3 + 0.03 * (duration - 20) + 0.35 * (np.log(amount) - 8)
             - 0.35 * savings_level + np.vectorize(check_score.get)(checking)
             + 0.3 * (housing == "rent") + 0.2 * (purpose == "education"))
    bad = rng.random(n_rows) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({
        "checking_account": checking, "duration_months": duration, "credit_amount": amount,
        "purpose": purpose, "savings": savings, "housing": housing,
        "existing_credits": existing_credits, "age_in_years": age, "sex": sex,
        "risk": np.where(bad, "bad", "good"),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(Path(__file__).with_name("credit.csv")))
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    credit_table(args.rows, args.seed).to_csv(args.out, index=False)
    print(f"wrote {args.out} ({args.rows} rows)")


if __name__ == "__main__":
    main()
