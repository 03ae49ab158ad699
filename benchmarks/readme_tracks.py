"""The README's track figures, rendered from the committed track results.

    python benchmarks/readme_tracks.py          # rewrite the README blocks from the artifacts
    python benchmarks/readme_tracks.py --check  # exit 1 if a README block is stale

Every number the README gives about the live track and the paper track sits between these blocks'
markers and is what this script writes from benchmarks/results/live_track.json and
paper_track.json; the prose around them carries no figures (the test suite checks the blocks).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from stylefit.bench.live.report import pick_text
from stylefit.selection.quality import format_interval

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
RESULTS = REPO / "benchmarks" / "results"
LIVE_REFERENCE = "sppl"
PAPER_SELECTORS = ("SPPL k=2 (paper)", "perplexity", "train-on-100 proxy", "adaptive: SPPL shortlist, then the proxy")


LIVE_PICKS = ("proxy-paper", "proxy", "sppl", "ppl")  # each case's picks by these, in the README


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start (made by benchmarks/readme_tracks.py) -->", f"<!-- {name}:end -->"


def live_block(track: dict[str, Any]) -> str:
    """Which cases are judged, and every selector's figures over them, with its paired difference
    from SPPL and the cases each way."""
    from stylefit.bench.live.report import _cost, default_rule_sentence, flagged_strategy_runs, picks_sentence, track_bound_sentence

    lines = [line for line in [preregistered_line(track), picks_sentence(track)] if line]
    cases = track["cases"]
    judged = [c for c in cases if c.get("judged")]
    lines.append(f"Judged cases: {len(judged)}" + (f" ({', '.join(c['case'] for c in judged)})" if judged else "") + ".")
    lines += [f"Not judged: {reason}." for reason in track["incomplete"]]
    for c in judged:
        flags = []
        if runs := flagged_strategy_runs(c):
            flags.append(f"{len(runs)} run(s) with over 2% of answers cut at {c['eval'].get('max_new_tokens')} tokens "
                         "(answers caught in a loop aside; what they could change is the case's line below)")
        if "base" in c.get("cut_flagged", []):  # no strategy: its cut answers move no ranking
            flags.append(f"the base model's run with over 2% of answers cut at {c['eval'].get('max_new_tokens')} tokens "
                         "(no strategy, so no ranking depends on it)")
        devices = sorted(set(c["devices"].values()))
        flags.append(f"runs on {' and '.join(devices)}")
        flags.append(f"{c['overlap']['distinct']} distinct of {len(c['accuracy'])} strategies" if "overlap" in c else "")
        manifest = json.loads((RESULTS / "live" / c["case"] / "candidates" / "manifest.json").read_text(encoding="utf-8"))
        old = [m for m in manifest["strategies"] if m["kind"] not in ("gold", "answer_only", "routed") and "length_retries" not in m["recipe"]]
        if old:  # written before generate retried cut responses with a longer budget
            cut = sum(m.get("hit_length_limit", 0) for m in old)
            flags.append(f"candidates from the first season's rules: {cut} teacher generation{'' if cut == 1 else 's'} hit "
                         "the limit, and a cut wrong one got the gold answer appended")
        best = max(c["accuracy"].items(), key=lambda kv: kv[1]["mean"])
        base = "-" if c["base"] is None else f"{100 * c['base']:.1f}%"
        lines.append(f"{c['case']}: best strategy {best[0]} ({100 * best[1]['mean']:.1f}%), base model {base}; "
                     + "; ".join(f for f in flags if f) + ".")
        for name, r in c.get("routed", {}).items():
            lines.append(f"{c['case']}: {name} (per-question routing) {100 * r['mean']:.1f}%.")
        picks = [f"{name} {pick_text(c['picks'][name], len(c['accuracy']), refused=name in c.get('refused', {}))} "
                 f"({c['outcomes'][name]['regret_points']:.1f})" for name in LIVE_PICKS if name in c["picks"]]
        lines.append(f"{c['case']}: picks (regret, points): {'; '.join(picks)}.")
        if refused := c.get("refused"):
            lines.append(f"{c['case']}: refused the case's sample (judged as no pick): "
                         + "; ".join(f"{name} ({why})" for name, why in refused.items()) + ".")
        if flagged_strategy_runs(c):
            lines.append(f"{c['case']}: " + cut_line(c))
    if rule := default_rule_sentence(track):
        lines.append(rule)
    if not track["figures"]:
        return "\n".join(lines)
    if any(flagged_strategy_runs(c) for c in judged):
        lines.append(track_bound_sentence(track))
    lines += ["", f"Weighted Spearman ρ between each selector's preference and the strategies' mean accuracy, 95% bootstrap "
              f"interval over the {track['judged_cases']} judged case(s); paired differences from `{LIVE_REFERENCE}`, with the "
              "cases where the selector ranked better/tied/worse and a sign test; its seconds per strategy where it ran, "
              "counting cached work at what it cost when computed (the proxies' fine-tunes wherever they ran); ≥ marks a "
              "lower bound, where the target's samples and scores an earlier selector cached were stored before their "
              "cost was recorded.", "",
              f"| selector | weighted ρ | Δρ vs {LIVE_REFERENCE} | better/tied/worse (p) | regret (pts) | s / strategy |",
              "|---|---|---|---|---|---|"]
    paired = track["paired"].get(LIVE_REFERENCE, {})
    signs = track["paired_signs"].get(LIVE_REFERENCE, {})
    order = sorted(track["figures"], key=lambda n: -track["figures"][n]["weighted_spearman"]["estimate"])
    for name in order:
        f = track["figures"][name]
        diff = format_interval(paired[name]["weighted_spearman"], signed=True) if name in paired else "—"
        s = signs.get(name, {}).get("spearman")
        sign = f"{s['wins']}/{s['ties']}/{s['losses']} (p={s['sign_test_p']:.2f})" if s else "—"
        costs = [f"{cost} on {device}" for device in ("cpu", "cuda") if (cost := _cost(track, name, device)) != "-"]
        lines.append(f"| {name} | {format_interval(f['weighted_spearman'])} | {diff} | {sign} | "
                     f"{format_interval(f['regret_points'], 1)} | {', '.join(costs) or '-'} |")
    return "\n".join(lines)


def preregistered_line(track: dict[str, Any]) -> str:
    """The recommended selector's figures on the pre-registered cases, and every selector that ranked above
    it there, paired to it ('' before any pre-registered case is judged)."""
    reg, group = track["preregistration"], track["groups"]["preregistered"]
    if reg is None or not group["figures"] or reg["recommended"] not in group["paired"]:
        return ""
    best, figures, paired = reg["recommended"], group["figures"], group["paired"][reg["recommended"]]
    signs = group["paired_signs"][best]
    above = sorted((n for n in paired if figures[n]["weighted_spearman"]["estimate"] > figures[best]["weighted_spearman"]["estimate"]),
                   key=lambda n: -figures[n]["weighted_spearman"]["estimate"])
    beyond = [n for n in above if paired[n]["weighted_spearman"]["low"] > 0]
    ranked = "; ".join(f"{n} {format_interval(figures[n]['weighted_spearman'])}, paired Δρ "
                       f"{format_interval(paired[n]['weighted_spearman'], signed=True)} (better/tied/worse "
                       f"{signs[n]['spearman']['wins']}/{signs[n]['spearman']['ties']}/{signs[n]['spearman']['losses']}), Δ regret "
                       f"{format_interval(paired[n]['regret_points'], 1, signed=True)} points" for n in above)
    return (f"Pre-registered cases, {group['judged_cases']} judged ({', '.join(group['cases'])}): the recommended selector, "
            f"{best}, has weighted ρ {format_interval(figures[best]['weighted_spearman'])} and regret "
            f"{format_interval(figures[best]['regret_points'], 1)} points. "
            + (f"Ranked above it there (a Δ regret below zero is less regret): {ranked}; beyond the paired 95% interval: "
               f"{', '.join(beyond) or 'none'}."
               if above else "No registered selector ranked above it there."))


def cut_line(case: dict[str, Any]) -> str:
    """What a case's cut answers could change (every one counted right) and what its probes found."""
    bound, means = case["cut_bound"], {s: a["mean"] for s, a in case["accuracy"].items()}
    flagged = {run.rpartition(":seed")[0] for run in case["cut_flagged"]}
    spans = ", ".join(f"{s} {100 * means[s]:.1f}%, at least {100 * low:.1f} and at most {100 * high:.1f}"
                      for s, (low, high) in bound["strategies"].items() if s in flagged)
    swaps = "; ".join(f"{a} and {b}, {100 * abs(means[a] - means[b]):.1f} points apart" for a, b in bound["could_swap"])
    text = (f"were every cut answer (not in a loop) wrong and were every one right, whatever a larger budget made of them: "
            f"{spans}; pairs of strategies that could swap: {swaps or 'none'}")
    for probe in case.get("cut_probes", []):
        text += (f"; probe of {probe['run']}: its {probe['cut_not_looping']} cut answers given {probe['probe_budget']} tokens "
                 f"instead of {probe['budget']} (fine-tuned again on {probe['probe_device']}): {probe['end_within_probe_budget']} end, "
                 f"{probe['looping_at_probe_budget']} fall into a loop, {probe['correct_at_probe_budget']} right")
    return text + "."


def paper_block(track: dict[str, Any]) -> str:
    """Perplexity against the paper's SPPL, and the train-on-100 proxy, on the paper's released cases."""
    selectors = track["judging"]["all"]["selectors"]
    lines = []
    for name in PAPER_SELECTORS:
        s = selectors[name]
        line = f"{name}: weighted ρ {format_interval(s['figures']['weighted_spearman'], 3)} over {s['n_cases']} cases"
        if (vs := s.get("vs_reference")) and name != PAPER_SELECTORS[0]:  # the first is the reference itself
            line += (f"; against {PAPER_SELECTORS[0]} on the same {vs['n_cases']} cases, Δρ {format_interval(vs['figures']['weighted_spearman'], 3, True)}"
                     f" and Δ top-1 accuracy {format_interval(vs['figures']['top1_accuracy_points'], 2, True)} points")
        lines.append(line + ".")
    return "\n".join(f"- {line}" for line in lines)


def adaptive_block(judged: dict[str, Any]) -> str:
    """The adaptive selector on the live track, without a budget: against proxy-paper on the same
    cases, its regret per case, and its fine-tune steps and seconds as shares of proxy-paper's."""
    rows = judged["cases"]
    [point] = [p for p in judged["curve"] if p["selector"] == "adaptive" and p["budget_steps"] == 0]
    [paper] = [p for p in judged["curve"] if p["selector"] == "proxy-paper"]
    signs = point["vs_proxy_paper_rho_signs"]
    unsolved = sum(any(n.startswith("regime: the target answers") for n in r["runs"][0]["stages"][0]["notes"]) for r in rows)
    lines = [f"Live track, {len(rows)} judged cases: weighted ρ {format_interval(point['figures']['weighted_spearman'])} without a budget, "
             f"proxy-paper {format_interval(paper['figures']['weighted_spearman'])} on the same cases (Δρ "
             f"{format_interval(point['vs_proxy_paper']['weighted_spearman'], signed=True)}; better/tied/worse {signs['wins']}/"
             f"{signs['ties']}/{signs['losses']}, sign test p={signs['sign_test_p']:.2f}); mean regret "
             f"{format_interval(point['figures']['regret_points'], 1)} points.",
             f"The regime check sent every strategy to the proxy in {unsolved} of {len(rows)} cases (the target answers under a "
             "fifth of its training questions zero-shot)."]
    for row, steps, share, seconds in zip(rows, point["steps"], point["share_of_proxy_paper"], point["seconds_share_of_proxy_paper"]):
        run = row["runs"][0]
        pick = run["pick"] or pick_text(run["tied_best"], len(row["accuracy"]))
        time = (f"{run['seconds']:.0f} s, {seconds:.0%} of proxy-paper's {row['proxy_paper_seconds']:.0f} s on {run['device']}"
                if seconds is not None else f"seconds not comparable ({run['device']}; proxy-paper on {row['proxy_paper_device']})")
        lines.append(f"{row['case']}: pick {pick} (true best {row['best']}, regret {run['outcome']['regret_points']:.1f} points), "
                     f"{steps} fine-tune steps, {share:.0%} of proxy-paper's {row['proxy_paper_steps']}; {time}.")
    return "\n".join(lines)


def guidance_block(track: dict[str, Any]) -> str:
    """The figures the selector guidance rests on: the pre-registered cases first, then all judged cases,
    what `stylefit run` decides with, and the post hoc look at proxy-gold_loss against the length order."""
    rule = track["default_rule"]
    run, chosen = rule["run"], rule["run_selector"]
    names = list(dict.fromkeys([chosen, rule["default"], rule["incumbent"], LIVE_REFERENCE, "ppl"]))
    signs = track["paired_signs"][LIVE_REFERENCE][chosen]["spearman"]
    figures = "; ".join(f"{n} weighted ρ {format_interval(track['figures'][n]['weighted_spearman'])}, regret "
                        f"{format_interval(track['figures'][n]['regret_points'], 1)} points" for n in names)
    lines = [preregistered_line(track),
             f"All {track['judged_cases']} judged cases: {figures}; {chosen} ranked better/tied/worse than {LIVE_REFERENCE} in "
             f"{signs['wins']}/{signs['ties']}/{signs['losses']} (sign test p={signs['sign_test_p']:.4f})."]
    deviation = rule.get("deviation") or {}
    lines.append(f"The default rule chooses `{rule['default']}`" + (
        f"; a deviation chosen after the results were seen (`{deviation['file']}`) moves it to `{deviation['instead']}`, which "
        "the rule also finds ahead of the incumbent" if deviation.get("applied") else "")
        + f"; so `stylefit run` decides with `{run['scorer']}` on n={run['n']} (selector `{chosen}`).")
    look = json.loads((RESULTS / "gold_loss_length.json").read_text(encoding="utf-8"))
    groups = look["groups"]

    def pair(group: str, figure: str, digits: int = 2) -> str:
        return " and ".join(format_interval(groups[group][s][figure], digits) for s in ("proxy-gold_loss", "length"))

    lines.append(f"proxy-gold_loss against the length order (post hoc, gold_loss_length.md): median Spearman "
                 f"{look['median_agreement']:+.2f} between their preferences over {len(look['cases'])} cases; weighted ρ "
                 f"{pair('pre-registered', 'weighted_spearman')} on the {groups['pre-registered']['cases']} pre-registered cases, "
                 f"{pair('development', 'weighted_spearman')} on the {groups['development']['cases']} development cases (regret "
                 f"{pair('development', 'regret_points', 1)} points there).")
    return "\n".join(line for line in lines if line)


BLOCKS = {"guidance-figures": (RESULTS / "live_track.json", guidance_block), "live-figures": (RESULTS / "live_track.json", live_block), "paper-figures": (RESULTS / "paper_track.json", paper_block),
          "adaptive-figures": (RESULTS / "adaptive.json", adaptive_block)}


def render(name: str) -> str:
    path, make = BLOCKS[name]
    start, end = markers(name)
    return f"{start}\n{make(json.loads(path.read_text(encoding='utf-8')))}\n{end}"


def current_block(readme: str, name: str) -> str:
    start, end = markers(name)
    return readme[readme.index(start) : readme.index(end) + len(end)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    readme = README.read_text(encoding="utf-8")
    stale = [name for name in BLOCKS if current_block(readme, name) != render(name)]
    if args.check:
        print("stale: " + ", ".join(stale) if stale else "up to date")
        sys.exit(1 if stale else 0)
    from stylefit.data.jsonl import write_atomic

    for name in BLOCKS:
        readme = readme.replace(current_block(readme, name), render(name))
    write_atomic(README, readme)
    print(f"rewrote {', '.join(stale) or 'nothing (up to date)'}")


if __name__ == "__main__":
    main()
