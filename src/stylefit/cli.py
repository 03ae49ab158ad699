"""The `stylefit` command line: a thin typer layer over the Python API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from stylefit.bench.cli import bench_app
from stylefit.core.errors import StylefitError
from stylefit.core.progress import err, stage_progress

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Pick the response-generation strategy your target model learns best from.")
# Piped output gets a wide table rather than rich's 80-column default.
console = Console() if sys.stdout.isatty() else Console(width=140)


@app.command()
def select(
    task: Path = typer.Argument(..., help="Task folder (with task.json) or the task.json itself."),
    candidates: list[Path] = typer.Argument(..., help="Folder of candidate files (<strategy>.jsonl[.gz], .parquet or a save_to_disk folder; plain, chat or alpaca rows), or the files."),
    model: str = typer.Option("smollm2-135m-instruct", "--model", "-m", help="Registered name, local HF folder or hub id."),
    scorer: str = typer.Option("ppl", "--scorer", "-s", help="ppl (default: the cheapest screen, no fine-tune; see the README for what it gives up) | sppl | ifd | length | alignment | rsr | local | grace | proxy (what `run` decides with by default, on n=100) | adaptive (screen, shortlist, proxy rounds; its settings as -p) (see `stylefit scorers`)"),
    n: int = typer.Option(50, "--n", help="Questions to score per strategy."),
    sample_seed: Optional[int] = typer.Option(None, "--sample-seed", help="Draw the N questions at random with this seed (default: the first N)."),
    k: Optional[int] = typer.Option(None, "--k", help="sppl: self-exemplars per candidate (default 3)."),
    m: Optional[int] = typer.Option(None, "--m", help="sppl: training questions answered zero-shot for exemplars (default 100); alignment: samples per question (default 4)."),
    variant: Optional[str] = typer.Option(None, "--variant", help="sppl: native (target's chat template, default) | paper (the authors' [INST] wrapper) | plain (base models)."),
    template: Optional[str] = typer.Option(None, "--template", help="ppl/ifd: native (default) | paper | plain (base models)."),
    paper_wrapper: Optional[str] = typer.Option(None, "--paper-wrapper", help="ppl/ifd/sppl with the paper template: llama2 (with system block, default) | mistral (the authors' Mistral wrapper)."),
    exclude_own_answer: Optional[bool] = typer.Option(None, "--exclude-own-answer", help="sppl: never show a question the target's own answer to it as an exemplar."),
    function: Optional[str] = typer.Option(None, "--function", help="alignment: hidden_cosine (default) | embed_cosine | rouge_l | token_f1 | exact."),
    correct_only: Optional[bool] = typer.Option(None, "--correct-only/--all-samples", help="alignment: align only with target samples the verifier accepts."),
    param: list[str] = typer.Option([], "--param", "-p", help="Any other scorer parameter as KEY=VALUE (VALUE read as JSON if it parses), e.g. -p temperature=0.7."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the result as JSON to this file."),
    report_dir: Optional[Path] = typer.Option(None, "--report", help="Write the HTML report (and its Markdown and JSON) into this folder."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="SQLite cache file (default $STYLEFIT_HOME/cache.sqlite)."),
    skip_overlong: bool = typer.Option(False, "--skip-overlong", help="Drop (and count) questions longer than the context instead of failing."),
    bootstrap: int = typer.Option(2000, "--bootstrap", help="Paired bootstrap resamples."),
    workers: int = typer.Option(1, "--workers", help="adaptive: a proxy round's fine-tunes at once, in processes here."),
    ray: Optional[str] = typer.Option(None, "--ray", help="adaptive: its fine-tunes on Ray ('local' starts one here, 'auto' or ray://host:port joins a cluster)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when available) | cpu | cuda | cuda:N."),
    dtype: str = typer.Option("auto", "--dtype", help="auto (bf16 on a GPU that supports it, else float32) | float32 | bfloat16 | float16."),
    token_budget: Optional[int] = typer.Option(None, "--token-budget", help="Most tokens in one forward pass (default 2048); longer sequences run in chunks."),
    id_field: str = typer.Option("id", "--id-field", help="Candidate rows' id field (plain JSONL/parquet/dataset rows)."),
    question_field: str = typer.Option("question", "--question-field", help="Candidate rows' question field (plain rows)."),
    response_field: str = typer.Option("response", "--response-field", help="Candidate rows' response field (plain rows)."),
) -> None:
    """Rank strategies by predicted fine-tuning benefit for the target model."""
    from stylefit.api import select as run_select
    from stylefit.data.records import FieldMap

    # Only the options given reach the scorer, so one that does not apply is an error, not ignored.
    given = {"k": k, "m": m, "variant": variant, "template": template, "function": function, "correct_only": correct_only,
             "paper_wrapper": paper_wrapper, "exclude_own_answer": exclude_own_answer}
    params = {key: value for key, value in given.items() if value is not None} | _parse_params(param)
    fields = FieldMap(id_field, question_field, response_field)
    if scorer == "adaptive":  # screen, shortlist, proxy rounds: its parameters are its settings
        from stylefit.api import select_adaptive
        from stylefit.report.html import write_adaptive_report as write_report
        from stylefit.report.terminal import print_adaptive as show, write_adaptive_json as write_result

        with stage_progress() as progress:
            result = select_adaptive(task, candidates, target=model, settings=params, n=n, sample_seed=sample_seed, store=cache,
                                     workers=workers, ray_address=ray, device=device, dtype=dtype, token_budget=token_budget,
                                     progress=progress, fields=fields)
    else:
        from stylefit.report.html import write_selection_report as write_report
        from stylefit.report.terminal import print_selection as show, write_json as write_result

        if workers != 1 or ray is not None:
            raise StylefitError(f"--workers and --ray run the adaptive selector's fine-tunes; scorer '{scorer}' runs none")
        with stage_progress() as progress:
            result = run_select(task, candidates, target=model, scorer=scorer, scorer_params=params, n=n,
                                sample_seed=sample_seed, store=cache, skip_overlong=skip_overlong,
                                n_bootstrap=bootstrap, device=device, dtype=dtype, token_budget=token_budget,
                                progress=progress, fields=fields)
    show(result, console)
    if out is not None:
        write_result(result, out)
        console.print(f"wrote {out}")
    if report_dir is not None:
        from stylefit.data import load_candidates, load_task

        paths = write_report(result, report_dir, load_candidates(load_task(task), candidates, fields))
        console.print(f"wrote {paths['html']}")


@app.command()
def route(
    task: Path = typer.Argument(..., help="Task folder (with task.json and a verifier)."),
    candidates: list[Path] = typer.Argument(..., help="Folder of candidate files, or the files: the strategies to route between."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write routed:<scorer>.jsonl (and its .routing.json) into."),
    model: str = typer.Option("smollm2-135m-instruct", "--model", "-m", help="Registered name, local HF folder or hub id."),
    scorer: str = typer.Option("ppl", "--scorer", "-s", help="Any per-example scorer (see `stylefit scorers`; not proxy)."),
    param: list[str] = typer.Option([], "--param", "-p", help="Scorer parameter as KEY=VALUE (VALUE read as JSON if it parses)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="SQLite cache file (default $STYLEFIT_HOME/cache.sqlite)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N."),
    dtype: str = typer.Option("auto", "--dtype", help="auto | float32 | bfloat16 | float16."),
) -> None:
    """Per question, keep the correct response the target finds most familiar: a new candidate set."""
    from stylefit.selection.routing import route as run_route

    with stage_progress() as progress:
        routed = run_route(task, candidates, target=model, scorer=scorer, scorer_params=_parse_params(param), store=cache,
                           progress=progress, device=device, dtype=dtype)
    path = routed.write(out)
    table = Table(title=f"{routed.name}: {len(routed.rows)} questions")
    table.add_column("from strategy")
    table.add_column("share", justify="right")
    for strategy, share in routed.composition.items():
        table.add_row(strategy, f"{100 * share:.1f}%")
    console.print(table)
    if routed.no_correct:
        console.print(f"{len(routed.no_correct)} questions left out: no strategy answered them correctly "
                      f"(e.g. {', '.join(routed.no_correct[:3])})")
    console.print(f"wrote {path}")


@app.command()
def report(
    results: list[Path] = typer.Argument(..., help="Result JSON files: a `select --out` result and/or a `verify --out` result."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for report.html, report.md and the results beside them."),
    task: Optional[Path] = typer.Option(None, "--task", help="With --candidates: show example responses per strategy."),
    candidates: Optional[Path] = typer.Option(None, "--candidates", help="The candidate folder the selection scored."),
) -> None:
    """A self-contained HTML report (figures inline, no network), a Markdown summary and the JSON.
    Given a selection and the ground truth of the same task, it plots one against the other."""
    from stylefit.api import SelectionResult
    from stylefit.data import load_candidates, load_task
    from stylefit.report.html import write_report

    found: dict[str, object] = {}
    for path in results:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise StylefitError(f"{path}: not a readable JSON result ({e})") from None
        kind = ("selection" if isinstance(data, dict) and "ranking" in data and "scorer" in data
                else "verify" if isinstance(data, dict) and "cases" in data and "runs" in data and "metric" in data else None)
        if kind is None:
            raise StylefitError(f"{path}: not a selection (`select --out`) or ground-truth (`verify --out`) result; "
                                "other kinds are not reported yet")
        if kind in found:
            raise StylefitError(f"{path}: a second {kind} result; give at most one of each")
        found[kind] = SelectionResult.from_dict(data) if kind == "selection" else data
    if (task is None) != (candidates is None):
        raise StylefitError("--task and --candidates go together")
    loaded = load_candidates(load_task(task), candidates) if task is not None else None
    paths = write_report(out, selection=found.get("selection"), verify=found.get("verify"), candidates=loaded)
    console.print("wrote " + ", ".join(str(p) for p in paths.values()))


def _parse_params(items: list[str]) -> dict:
    params = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise StylefitError(f"--param expects KEY=VALUE, got '{item}'")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def _int_list(text: str, what: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise StylefitError(f"{what} must be comma-separated integers, got '{text}'") from None


@app.command()
def verify(
    task: Path = typer.Argument(..., help="Task folder (with task.json and a test split)."),
    candidates: list[Path] = typer.Argument(..., help="Folder of candidate files (<strategy>.jsonl[.gz], .parquet or a save_to_disk folder; plain, chat or alpaca rows), or the files."),
    model: list[str] = typer.Option(["smollm2-135m-instruct"], "--model", "-m", help="Target(s): registered name, local HF folder or hub id; repeat for several."),
    strategy: Optional[list[str]] = typer.Option(None, "--strategy", help="Strategies to train on (repeat; default all)."),
    seeds: str = typer.Option("0,1,2", "--seeds", help="Training seeds, comma-separated."),
    n_train: Optional[int] = typer.Option(None, "--n-train", help="Train on the first N candidate questions (default all)."),
    n_test: Optional[int] = typer.Option(None, "--n-test", help="Evaluate on the first N test questions (default all)."),
    recipe_file: Optional[Path] = typer.Option(None, "--recipe", help="JSON file of recipe fields; the flags below override it."),
    method: Optional[str] = typer.Option(None, "--method", help="lora (default) | full"),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Training epochs (default 2)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate (default 2e-4 LoRA, 2e-5 full)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Per-step batch size (default 8)."),
    lora_rank: Optional[int] = typer.Option(None, "--lora-rank", help="LoRA rank (default 8)."),
    lora_alpha: Optional[int] = typer.Option(None, "--lora-alpha", help="LoRA alpha (default 16)."),
    target_modules: Optional[str] = typer.Option(None, "--target-modules", help="LoRA modules, comma-separated (default q_proj,v_proj)."),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Longest prompt + response in tokens (default 1024); never truncated."),
    skip_overlong: bool = typer.Option(False, "--skip-overlong", help="Drop (and count) over-long training examples instead of failing."),
    select_checkpoint: bool = typer.Option(False, "--select-checkpoint", help="Keep the epoch with the best accuracy on held-out training questions."),
    padding_free: bool = typer.Option(False, "--padding-free", help="Lay each batch's examples end to end, without padding: the same batches and loss, faster when lengths vary (answers may turn in near ties)."),
    head_on_response_only: bool = typer.Option(False, "--head-on-response-only", help="Run the LM head on the response tokens only: the same loss, faster with a large vocabulary and long prompts (answers may turn in near ties)."),
    validation: Optional[int] = typer.Option(None, "--validation", help="Held-out questions for --select-checkpoint (default 50)."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Longest generated answer when evaluating."),
    bind_device: bool = typer.Option(False, "--bind-device", help="Key runs by the kind of device (cpu, cuda) too, so that runs made on another never mix in."),
    earlier_budget: list[int] = typer.Option([], "--earlier-budget", help="A --max-new-tokens this grid ran with before (repeat): stored runs none of whose answers reached it are kept, not run again."),
    earlier_max_length: list[int] = typer.Option([], "--earlier-max-length", help="A --max-length this grid ran with before (repeat): stored runs that skipped no example are kept, not run again."),
    metric: str = typer.Option("strict", "--metric", help="Ranking reading: strict (after 'Final Answer:') | flexible; both are shown."),
    no_base: bool = typer.Option(False, "--no-base", help="Skip evaluating the target without fine-tuning."),
    ray: Optional[str] = typer.Option(None, "--ray", help="Run on Ray: 'local' starts one here, 'auto' or ray://host:port joins a cluster."),
    num_cpus: float = typer.Option(1, "--num-cpus", help="Ray: CPUs per run."),
    num_gpus: float = typer.Option(0, "--num-gpus", help="Ray: GPUs per run."),
    workers: int = typer.Option(1, "--workers", help="Runs at once in processes here (several small runs share one GPU)."),
    checkpoint_every: int = typer.Option(10, "--checkpoint-every", min=0, help="Optimizer steps between resumable checkpoints (a killed run goes on from its newest); 0 = none."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when available; on Ray: a GPU when --num-gpus > 0) | cpu | cuda | cuda:N."),
    dtype: str = typer.Option("auto", "--dtype", help="auto (bf16 mixed precision on a GPU that supports it, else float32) | float32 | bfloat16 | float16."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the result (every run, every item) as JSON to this file."),
    report_dir: Optional[Path] = typer.Option(None, "--report", help="Write the HTML report (and its Markdown and JSON) into this folder."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="SQLite results store (default $STYLEFIT_HOME/cache.sqlite)."),
    id_field: str = typer.Option("id", "--id-field", help="Candidate rows' id field (plain JSONL/parquet/dataset rows)."),
    question_field: str = typer.Option("question", "--question-field", help="Candidate rows' question field (plain rows)."),
    response_field: str = typer.Option("response", "--response-field", help="Candidate rows' response field (plain rows)."),
) -> None:
    """Fine-tune the target on each strategy (several seeds), evaluate on the test split, rank against the noise floor."""
    import datasets
    import transformers

    from stylefit.data.records import FieldMap
    from stylefit.report.verify import print_verify, write_json
    from stylefit.training.verify import verify as run_verify

    recipe: dict = {}
    if recipe_file is not None:
        try:
            recipe = json.loads(recipe_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise StylefitError(f"{recipe_file}: cannot read a JSON recipe ({e})") from None
        if not isinstance(recipe, dict):
            raise StylefitError(f"{recipe_file}: a recipe is a JSON object")
    flags = {"method": method, "epochs": epochs, "learning_rate": lr, "batch_size": batch_size, "lora_rank": lora_rank,
             "lora_alpha": lora_alpha, "max_length": max_length, "validation_questions": validation,
             "target_modules": tuple(m.strip() for m in target_modules.split(",")) if target_modules else None,
             "skip_overlong": skip_overlong or None, "select_checkpoint": select_checkpoint or None,
             "padding_free": padding_free or None, "head_on_response_only": head_on_response_only or None}
    recipe |= {k: v for k, v in flags.items() if v is not None}
    datasets.disable_progress_bars()  # per-run tokenizing/loading bars would bury the grid's own progress
    transformers.utils.logging.disable_progress_bar()
    with stage_progress() as progress:
        result = run_verify(task, candidates, targets=model, strategies=strategy, seeds=_int_list(seeds, "--seeds"),
                            recipe=recipe, eval_settings={"max_new_tokens": max_new_tokens}, n_train=n_train, n_test=n_test,
                            base=not no_base, metric=metric, store=cache, ray_address=ray,
                            resources={"num_cpus": num_cpus, "num_gpus": num_gpus}, workers=workers, device=device,
                            dtype=dtype, checkpoint_every=checkpoint_every, progress=progress, fields=FieldMap(id_field, question_field, response_field),
                            on_plan=lambda plan: err.print(plan.line()), earlier_budgets=earlier_budget,
                            earlier_max_lengths=earlier_max_length,
                            bind_device=bind_device)
    print_verify(result, console)
    if out is not None:
        write_json(result, out)
        console.print(f"wrote {out}")
    if report_dir is not None:
        from stylefit.report.html import write_report

        console.print(f"wrote {write_report(report_dir, verify=result.to_dict())['html']}")


@app.command()
def models() -> None:
    """List the registered offline models."""
    from stylefit.models.registry import REGISTRY

    for m in REGISTRY.values():
        console.print(f"{m.name:32s} {m.note}  [dim](extra: {m.extra})[/dim]")


@app.command()
def claims(
    cache: Path = typer.Option(None, "--cache", help="SQLite cache (default $STYLEFIT_HOME/cache.sqlite)."),
    release: Optional[str] = typer.Option(None, "--release", help="Release every claim of this holder (host:pid), one known to be gone."),
) -> None:
    """List the units of work processes have claimed in a cache; release a gone holder's."""
    import time

    from stylefit.core.store import Store

    store = Store(cache)
    if release is not None:
        console.print(f"released {store.release_owner(release)} claim(s) of {release}")
        return
    rows = store.claims()
    if not rows:
        console.print(f"no claims in {store.path}")
    clock = lambda t: "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
    for row in rows:
        state = "live" if row["live"] else "stale (taken over by the next asker)"
        console.print(f"{row['unit'][:16]}  {row['owner']}  since {clock(row['since'])}  lapses {clock(row['expires'])}  {state}")


@app.command()
def scorers() -> None:
    """List the registered scorers."""
    from stylefit.scoring import get_scorer, scorer_names

    for name in scorer_names():
        s = get_scorer(name)
        paragraph = " ".join(type(s).__doc__.strip().split("\n\n")[0].split())
        first = paragraph.split(". ")[0].rstrip(".") + "."
        console.print(f"{name:9s} {first}  [dim]({s.unit}; {'higher' if s.higher_is_better else 'lower'} is preferred)[/dim]")


@app.command()
def generate(
    task: Path = typer.Argument(..., help="Task folder (with task.json; train may be JSONL, parquet or a save_to_disk folder, with task.json 'fields') or the task.json itself."),
    strategy: list[str] = typer.Option(..., "--strategy", "-s", help="Strategy to generate with (repeat; see `stylefit strategies`)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for <strategy>.jsonl files and manifest.json."),
    n: Optional[int] = typer.Option(None, "--n", help="Generate for the first N training questions (default all)."),
    target: str = typer.Option("smollm2-135m-instruct", "--model", "-m", help="The target, the model to be fine-tuned: minimum change, paraphrase and self-style start from its answers."),
    recipes: list[Path] = typer.Option([], "--recipes", "-r", help="TOML file of [strategy.<name>] recipes (repeat)."),
    retry_temperature: float = typer.Option(0.7, "--retry-temperature", help="Sampling temperature of the retries of a wrong answer."),
    own_answers_m: int = typer.Option(100, "--own-answers-m", help="self-style: training questions the target answers to find its correct answers."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="SQLite cache file (default $STYLEFIT_HOME/cache.sqlite)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when available) | cpu | cuda | cuda:N."),
    dtype: str = typer.Option("auto", "--dtype", help="auto (bf16 on a GPU that supports it, else float32) | float32 | bfloat16 | float16."),
    token_budget: Optional[int] = typer.Option(None, "--token-budget", help="Most tokens in one forward pass (default 2048)."),
) -> None:
    """Write training targets with each strategy: verified, retried, optionally fixed to gold; cached and resumable."""
    from stylefit.api import generate as run_generate

    with stage_progress() as progress:
        result = run_generate(task, strategy, out=out, n=n, target=target, recipes=recipes, store=cache,
                              retry_temperature=retry_temperature, own_answers_m=own_answers_m, device=device,
                              dtype=dtype, token_budget=token_budget, progress=progress)
    table = Table(title=f"{result.task}: {len(result.ids)} questions per strategy -> {result.out}")
    for column in ("strategy", "teacher", "correct 1st try", "correct", "still wrong", "fixed to gold", "tries", "tokens", "new tokens", "s"):
        table.add_column(column, justify="left" if column in ("strategy", "teacher") else "right")
    for r in result.strategies:
        table.add_row(r.strategy, r.teacher or "-", str(r.correct_first_try), str(r.correct), str(r.still_wrong), str(r.fixed),
                      str(r.tries), str(r.tokens), str(r.generated_tokens), f"{r.seconds:.1f}")
    console.print(table)
    for r in result.strategies:
        for note in r.notes:
            console.print(f"[dim]note: {r.strategy}: {note}[/dim]")
        if not r.reproducible:
            console.print(f"[dim]note: {r.strategy}: not reproducible without this cache ({r.reproducible_why})[/dim]")
    for line in result.overlap.get("summary", []):
        console.print(f"[dim]overlap: {line}[/dim]")
    console.print(f"{result.computed} generations computed, the rest from cache; wrote {result.out}/manifest.json")


@app.command()
def strategies(
    file: list[Path] = typer.Option([], "--file", "-f", help="TOML file of [strategy.<name>] recipes (repeat; later files override)."),
) -> None:
    """List the response-generation strategies: the built-in recipes and those of --file."""
    from stylefit.strategies import strategy_library

    table = Table(title="Response-generation strategies")
    for column in ("name", "kind", "teacher", "sampling", "description", "source"):
        table.add_column(column)
    for s in strategy_library(*file).values():
        sampling = "-" if s.teacher is None else ("greedy" if s.temperature == 0 else f"T={s.temperature:g}, top-p {s.top_p:g}")
        table.add_row(s.name, s.kind, s.teacher or "-", sampling, s.description, s.source)
    console.print(table)


@app.command("run")
def run_loop(
    config: Path = typer.Argument(..., help="TOML run config: task, target, strategies, n, full_size, scorer, [teachers], [verify]."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default out/<config name>)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="SQLite cache file (default $STYLEFIT_HOME/cache.sqlite)."),
    report_dir: Optional[Path] = typer.Option(None, "--report", help="Write the HTML report of the selection (and of verify, when run) into this folder."),
) -> None:
    """The whole loop: generate a sample per strategy, rank, generate the training set with the winner, optionally verify."""
    from stylefit.loop import load_config, run as run_config
    from stylefit.report.terminal import print_selection

    settings = load_config(config)  # a bad config is one line, before any progress bar starts
    with stage_progress() as progress:
        result = run_config(settings, out=out, store=cache, say=lambda line: err.print(f"[bold]{line}[/bold]"), progress=progress)
    from stylefit.api import SelectionResult

    print_selection(SelectionResult.from_dict(result.selection), console)
    console.print(f"[bold]{result.decision}[/bold]")
    for strategy, ts in result.training_sets.items():
        console.print(f"training set: {result.out}/{ts['path']} ({ts['rows']} examples, {strategy}, {ts['left_out']} left out)")
    if result.verify is not None:
        for case in result.verify["cases"]:
            console.print("verify: " + ", ".join(f"{s['strategy']} {100 * s['mean']:.1f}%" for s in case["strategies"])
                          + (f" (base {100 * case['base']['accuracy']:.1f}%)" if case["base"] else ""))
    for note in result.notes:
        console.print(f"[dim]note: {note}[/dim]")
    if report_dir is not None:
        from stylefit.data import load_candidates, load_task
        from stylefit.report.html import write_report

        sample = load_candidates(load_task(settings.path(settings.task)), Path(result.out) / "sample")
        paths = write_report(report_dir, selection=SelectionResult.from_dict(result.selection), verify=result.verify, candidates=sample)
        console.print(f"wrote {paths['html']}")
    console.print(f"wrote {result.out}/summary.md and manifest.json")


app.add_typer(bench_app, name="bench")


def main() -> None:
    """Entry point: every StylefitError, from any command, becomes one line on stderr and exit 2."""
    try:
        app(standalone_mode=False)
    except StylefitError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    except _click_exceptions().ClickException as e:  # a usage error: click's one-line message, its exit code
        e.show()
        raise SystemExit(e.exit_code) from None
    except typer.Abort:
        raise SystemExit(130) from None
    except typer.Exit as e:
        raise SystemExit(e.exit_code) from None


def _click_exceptions():
    """The click that typer runs on: its own bundled copy from typer 0.26, the click package before."""
    try:
        from typer._click import exceptions
    except ImportError:
        from click import exceptions
    return exceptions
