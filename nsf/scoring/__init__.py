"""From P(NSF) to the 0-100 score, and batch scoring of files of shared rows."""

from nsf.scoring._score import probability_to_score

__all__ = ["probability_to_score", "score_file"]


def __getattr__(name):
    # score_file imports the models package, which imports this one: resolve it lazily.
    if name == "score_file":
        from nsf.scoring._batch import score_file

        return score_file
    raise AttributeError(name)
