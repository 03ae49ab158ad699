"""The README's example table is the committed benchmark artifact, rendered; never typed by hand."""

import importlib.util
import json

from conftest import REPO


def readme_example():
    spec = importlib.util.spec_from_file_location("readme_example", REPO / "benchmarks" / "readme_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_example_table_is_rendered_from_the_committed_artifact():
    module = readme_example()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert module.current_block(readme) == module.render(), "stale README table: run python benchmarks/readme_example.py"
    artifact = json.loads(module.ARTIFACT.read_text())
    block = module.current_block(readme)
    for e in artifact["ranking"]["estimates"]:  # every strategy's row, in rank order
        assert e["strategy"] in block
    order = [block.index(f" {e['strategy']} ") for e in artifact["ranking"]["estimates"]]
    assert order == sorted(order) and artifact["ranking"]["n"] == 50 and artifact["scorer"] == "sppl"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_track_figures_are_rendered_from_the_committed_tracks():
    module = _module("readme_tracks")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in module.BLOCKS:
        assert module.current_block(readme, name) == module.render(name), f"stale README {name}: run python benchmarks/readme_tracks.py"
    live = json.loads((REPO / "benchmarks" / "results" / "live_track.json").read_text())
    block = module.current_block(readme, "live-figures")
    for name, figures in live["figures"].items():  # every judged selector, with its interval (none over one case)
        rho = figures["weighted_spearman"]
        shown = "(no interval)" if live["judged_cases"] == 1 else "["
        assert f"| {name} | {rho['estimate']:.2f} {shown}" in block
    for reason in live["incomplete"]:
        assert reason in block
    # issue 25: the block opens with the recommended selector on the pre-registered cases, then every registered
    # selector that ranked above it there, each paired to it
    group, recommended = live["groups"]["preregistered"], live["preregistration"]["recommended"]
    first = block.splitlines()[1]  # after the start marker
    mine = group["figures"][recommended]["weighted_spearman"]["estimate"]
    assert first.startswith(f"Pre-registered cases, {group['judged_cases']} judged (") and f"selector, {recommended}, has weighted ρ {mine:.2f} [" in first
    above = [n for n, f in group["figures"].items() if f["weighted_spearman"]["estimate"] > mine]
    for name in above:
        delta = group["paired"][recommended][name]["weighted_spearman"]["estimate"]
        assert f"{name} {group['figures'][name]['weighted_spearman']['estimate']:.2f} [" in first and f"paired Δρ {delta:+.2f} [" in first
    assert first.count("paired Δρ") == len(above)


def test_the_readme_track_sections_type_no_figure_outside_the_rendered_blocks():
    import re

    module = _module("readme_tracks")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in module.BLOCKS:
        readme = readme.replace(module.current_block(readme, name), "")
    section = readme[readme.index("## Benchmarks") : readme.index("## GPUs")]
    live = section[section.index("live_track.md") : section.index("reliability.md")]
    # a decimal figure (0.52, 47.3 %) in the live track's prose would be typed by hand (names such as Qwen2.5-Coder-0.5B are not figures)
    figure = r"(?<![\w.-])\d+\.\d+(?![\w-])"
    guidance = readme[readme.index("**Which selector to use.**") : readme.index("**Per-question routing**")]
    for text in (live, guidance):
        assert not re.findall(figure, text), [text[max(0, m.start() - 40) : m.end() + 40] for m in re.finditer(figure, text)]
