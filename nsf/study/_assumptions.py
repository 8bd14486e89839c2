"""The config's facts and assumptions, with their source: logged with the study's result
(``assumptions``) for the report's method section.

Every config default documented as ``[CASE]`` (a public fact of the case) or ``[ASSUMPTION]``
(the project's choice) is listed with the value the study used; so are the module-level
choices that are not config fields (band edges, count cap, which groups are contested). Read
at study time, so a report regenerated after a code change still shows what the study assumed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nsf.data import DatasetDescription

__all__ = ["method_assumptions"]

_TAG = re.compile(r"\[(CASE|ASSUMPTION)\]")


def _lookup(config: dict, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


#: Config sections that describe the simulated world, and study settings that apply to
#: simulated data only: not assumptions of a study of a table.
_SIMULATOR_SECTIONS = ("world.", "simulate.", "study.budget.subjects")


def method_assumptions(config: dict, *, simulated: bool = True,
                       description: DatasetDescription | None = None) -> list[dict]:
    """Rows ``{field, source (CASE | ASSUMPTION), value, default, changed, description}``.

    Parameters
    ----------
    config : the study's resolved config (JSON); values are read from it, defaults and
        descriptions from the config schema of the running code.
    simulated : whether the study read a simulated dataset; for a user's table the
        simulator's assumptions (``world.*``, ``simulate.*``, its categories and feed groups)
        are left out: they did not shape that data.
    description : the dataset's description, whose coarse bands and shared categories (the
        simulator's assumptions) are listed for a simulated dataset.
    """
    from nsf.config import ExperimentConfig, iter_schema

    defaults = ExperimentConfig().model_dump(mode="json")
    rows = []
    for name, _type, _default, _range, meaning in iter_schema():
        tags = _TAG.findall(meaning)
        if not tags or (not simulated and name.startswith(_SIMULATOR_SECTIONS)):
            continue
        section = name.rpartition(".")[0]
        if section and _lookup(config, section) is None:
            continue  # an optional section this study did not use (dataset.table)
        value, default = _lookup(config, name), _lookup(defaults, name)
        rows.append({"field": name, "source": "CASE" if "CASE" in tags else "ASSUMPTION",
                     "sources": sorted(set(tags)), "value": value, "default": default,
                     "changed": value is not None and value != default,
                     "description": meaning})
    if not simulated or description is None:
        return rows
    amount_bands = list(description.coarse_bands.get("amount_band", ()))
    count_cap = (description.coarse_bands.get("count_cap") or (None,))[0]
    categories = description.categories
    rows.append({"field": "data_gen.categories.AMOUNT_BANDS", "source": "ASSUMPTION",
                 "sources": ["ASSUMPTION"], "value": amount_bands,
                 "default": amount_bands, "changed": False,
                 "description": "KRW band edges of balances and amounts in 'categorised' "
                 "(binned) data and in coarsened variants."})
    rows.append({"field": "data_gen.categories.COUNT_CAP", "source": "ASSUMPTION",
                 "sources": ["ASSUMPTION"], "value": count_cap, "default": count_cap,
                 "changed": False, "description": "Counts above this are capped in "
                 "categorised data and in coarsened variants."})
    assumed = [f"{c.number} {c.name}" for c in categories if c.source == "ASSUMPTION"]
    rows.append({"field": "data_gen.categories.CATEGORIES", "source": "CASE",
                 "sources": ["ASSUMPTION", "CASE"], "value": len(categories),
                 "default": len(categories), "changed": False,
                 "description": "24 shared categories: 1-10 public [CASE]; 11-20 follow the "
                 "FSS's list [CASE]; " + ", ".join(assumed) + " are the project's choice "
                 "[ASSUMPTION]."})
    contested = (config.get("features") or {}).get("contested_groups")
    rows.append({"field": "nsf.features registry: contested groups", "source": "ASSUMPTION",
                 "sources": ["ASSUMPTION"], "value": contested,
                 "default": None, "changed": contested is not None,
                 "description": "Contested = personal data the regulators named as sent beyond "
                 "need; uncontested = Apple's own charge history, whether Kakao Pay is the App "
                 "Store method, and the payment method's funding settings."})
    return rows
