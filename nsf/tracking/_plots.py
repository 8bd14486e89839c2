"""Figures logged with a run (matplotlib, headless)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve


def roc_pr_figure(y, p, p_true=None):
    """ROC and precision-recall curves of the model (and of the oracle when known)."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.5))
    curves = [("model", p)] + ([("oracle", p_true)] if p_true is not None else [])
    for name, prob in curves:
        fpr, tpr, _ = roc_curve(y, prob)
        ax1.plot(fpr, tpr, label=name)
        prec, rec, _ = precision_recall_curve(y, prob)
        ax2.plot(rec, prec, label=name)
    ax1.plot([0, 1], [0, 1], ls=":", c="grey")
    ax1.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax2.axhline(float(np.mean(y)), ls=":", c="grey", label="NSF rate")
    ax2.set(xlabel="recall", ylabel="precision", title="precision-recall")
    ax1.legend()
    ax2.legend()
    fig.tight_layout()
    return fig


def calibration_figure(y, p, p_true=None, n_bins: int = 10):
    """Reliability diagram: observed NSF rate (and mean true P) per bin of predicted P."""
    edges = np.linspace(0, 1, n_bins + 1)
    band = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    filled = np.bincount(band, minlength=n_bins) > 0
    n = np.maximum(np.bincount(band, minlength=n_bins), 1)
    mean_p = np.bincount(band, weights=p, minlength=n_bins) / n
    ax.plot(mean_p[filled], (np.bincount(band, weights=y, minlength=n_bins) / n)[filled], "o-",
            label="observed NSF rate")
    if p_true is not None:
        ax.plot(mean_p[filled], (np.bincount(band, weights=p_true, minlength=n_bins) / n)[filled],
                "s--", label="mean true P(NSF)")
    ax.plot([0, 1], [0, 1], ls=":", c="grey")
    ax.set(xlabel="predicted P(NSF)", ylabel="P(NSF)", title="calibration (test rows)",
           xlim=(0, 1), ylim=(0, 1))
    ax.legend()
    fig.tight_layout()
    return fig
