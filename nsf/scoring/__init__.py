"""From P(NSF) to the 0-100 score, and batch scoring of files of shared rows."""

from nsf.scoring._score import probability_to_score

__all__ = ["plan_partitions", "probability_to_score", "score_file", "score_partitions"]


def __getattr__(name):
    # score_file imports the models package, which imports this one: resolve it lazily.
    if name == "score_file":
        from nsf.scoring._batch import score_file

        return score_file
    if name in ("score_partitions", "plan_partitions"):
        from nsf.scoring import _partitions

        return getattr(_partitions, name)
    raise AttributeError(name)
