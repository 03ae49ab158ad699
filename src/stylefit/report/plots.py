"""The report's figures, drawn with matplotlib and returned as inline SVG text (no files, no network).

Colours are the Okabe-Ito palette, which stays distinguishable under the common colour-vision
deficiencies; every axis says what it shows and in which unit.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
WIDTH = 7.5  # inches: fits a laptop screen at 100% zoom


def share(p: float) -> str:
    """A bootstrap share: never rounded to a certainty it is not (0.999 reads '>0.99')."""
    return ">0.99" if 0.995 <= p < 1 else "<0.01" if 0 < p < 0.005 else f"{p:.2f}"


def _figure(height: float):
    import matplotlib

    matplotlib.use("Agg")  # no display: the figures only become SVG text
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.spines.top": False, "axes.spines.right": False, "svg.fonttype": "none"})
    return plt.subplots(figsize=(WIDTH, height))


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.tight_layout()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prologue: the SVG sits inside HTML


def forest(strategies: Sequence[str], means: Sequence[float], lows: Sequence[float], highs: Sequence[float],
           p_best: Sequence[float] | None, xlabel: str) -> str:
    """Each strategy's mean with its 95% interval, best at the top, P(best) (when given) at the right."""
    fig, ax = _figure(0.45 * len(strategies) + 1.2)
    y = np.arange(len(strategies))[::-1]
    means, lows, highs = map(np.asarray, (means, lows, highs))
    ax.errorbar(means, y, xerr=[means - lows, highs - means], fmt="o", color=OKABE_ITO[0], ecolor=OKABE_ITO[0], capsize=3)
    ax.set_yticks(y, strategies)
    ax.set_xlabel(xlabel)
    for yi, p in zip(y, p_best or []):
        ax.annotate(f"P(best) {share(p)}", xy=(1.0, yi), xycoords=("axes fraction", "data"), xytext=(4, 0),
                    textcoords="offset points", va="center", fontsize=9, color="#444444")
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def distributions(strategies: Sequence[str], values: Sequence[Sequence[float]], ylabel: str) -> str:
    """Per-example scores of each strategy: a box (quartiles, whiskers at 1.5 IQR) and every point."""
    fig, ax = _figure(3.6)
    positions = np.arange(1, len(strategies) + 1)
    ax.boxplot([np.asarray(v, dtype=float) for v in values], positions=positions, widths=0.5, showfliers=False,
               medianprops={"color": OKABE_ITO[1], "linewidth": 2})
    rng = np.random.default_rng(0)  # jitter only: where each point is drawn, not its value
    for i, v in zip(positions, values):
        ax.scatter(i + rng.uniform(-0.15, 0.15, len(v)), v, s=8, alpha=0.5, color=OKABE_ITO[0], linewidths=0)
    ax.set_xticks(positions, strategies, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)


def predicted_vs_measured(strategies: Sequence[str], predicted: Sequence[float], accuracy: Sequence[float],
                          accuracy_sd: Sequence[float], xlabel: str, title: str) -> str:
    """Each strategy's score against its fine-tuned accuracy, with the accuracy's sd over seeds."""
    fig, ax = _figure(4.0)
    ax.errorbar(predicted, 100 * np.asarray(accuracy), yerr=100 * np.asarray(accuracy_sd), fmt="o",
                color=OKABE_ITO[2], ecolor=OKABE_ITO[2], capsize=3)
    for x, y, name in zip(predicted, accuracy, strategies):
        ax.annotate(name, (x, 100 * y), xytext=(4, 4), textcoords="offset points", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fine-tuned test accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return _svg(fig)


def quality_vs_cost(names: Sequence[str], quality: Sequence[float], low: Sequence[float], high: Sequence[float],
                    seconds: Sequence[float], ylabel: str) -> str:
    """Each selector's quality (with its interval) against its cost per strategy, on a log time axis."""
    fig, ax = _figure(4.0)
    quality, low, high, seconds = map(lambda v: np.asarray(v, dtype=float), (quality, low, high, seconds))
    spread = np.where(np.isnan(low), 0.0, quality - low), np.where(np.isnan(high), 0.0, high - quality)
    ax.errorbar(seconds, quality, yerr=spread, fmt="o", color=OKABE_ITO[3], ecolor=OKABE_ITO[3], capsize=3)
    for x, y, name in zip(seconds, quality, names):
        ax.annotate(name, (x, y), xytext=(4, 4), textcoords="offset points", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("cost: wall seconds per strategy on a 2-core CPU (log scale)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return _svg(fig)


def sample_size_curve(sizes: Sequence[int], curves: dict[str, tuple[Sequence[float], Sequence[float], Sequence[float]]],
                      ylabel: str) -> str:
    """Per selector, a figure of merit against the number of questions scored, with its interval as a band."""
    fig, ax = _figure(4.0)
    for (name, (estimate, low, high)), colour in zip(curves.items(), OKABE_ITO * 2):
        ax.plot(sizes, estimate, "o-", color=colour, label=name)
        ax.fill_between(sizes, low, high, color=colour, alpha=0.08, linewidth=0)
    ax.set_xscale("log")
    ax.set_xticks(list(sizes), [str(n) for n in sizes])
    ax.set_xlabel("questions scored per strategy, N (log scale)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return _svg(fig)
