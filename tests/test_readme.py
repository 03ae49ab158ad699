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
