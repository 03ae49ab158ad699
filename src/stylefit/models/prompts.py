"""How a (prompt, response) pair becomes text for the model: chat templates and the paper's strings.

Three templates:
- ``native``: the target's own chat template (the default: familiarity moves wholesale with the
  template, DESIGN.md §5);
- ``paper``: the authors' Llama-2 style wrapper, with the response appended after one space and
  the tokenizer's special tokens added (PROMPTS.md); they used it with a system block for every
  model but Mistral (wrapper ``llama2``), and without one for Mistral (wrapper ``mistral``);
- ``plain``: the prompt, a newline, the response (for base models without a chat template).

The SPPL prompt text is reproduced character for character from the authors' code.
"""

from __future__ import annotations

from dataclasses import replace

from stylefit.core.errors import StylefitError
from stylefit.models.base import ContinuationRequest, GenerationSpec, LanguageModel

# The end of the answer line every prompt here asks for: what follows "Final Answer: N" is not the answer.
ANSWER_LINE = r"(?i)final\s+answer\s*:[^\n]*\S[^\n]*\n"

TEMPLATES = ("native", "paper", "plain")

PAPER_SYSTEM_WRAPPER = "[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\n{prompt} [/INST]"
PAPER_MISTRAL_WRAPPER = "[INST] {prompt} [/INST]"
PAPER_WRAPPERS = {"llama2": PAPER_SYSTEM_WRAPPER, "mistral": PAPER_MISTRAL_WRAPPER}

SPPL_HEADER = (
    "Question: {question}\n\nWe have inference examples below to show you how to solve the problem. "
    "please follow the inference style and solve the problem\n\n"
)
SPPL_EXAMPLE = "inference example: {exemplar}\n\n"
SPPL_CLOSING = "now, according to the inference examples, please solve the problem. \n\n\n"


def sppl_prompt(question: str, exemplars: list[str]) -> str:
    """The authors' self-aligned perplexity prompt: question, k exemplars, closing line."""
    text = SPPL_HEADER.replace("{question}", question)
    for exemplar in exemplars:
        text += SPPL_EXAMPLE.replace("{exemplar}", exemplar)
    return text + SPPL_CLOSING


def paper_wrap(prompt: str, wrapper: str = "llama2") -> str:
    return PAPER_WRAPPERS[check_wrapper(wrapper)].replace("{prompt}", prompt)


def check_template(template: str) -> str:
    if template not in TEMPLATES:
        raise StylefitError(f"unknown template '{template}' (known: {', '.join(TEMPLATES)})")
    return template


def check_wrapper(wrapper: str) -> str:
    if wrapper not in PAPER_WRAPPERS:
        raise StylefitError(f"unknown paper wrapper '{wrapper}' (known: {', '.join(PAPER_WRAPPERS)})")
    return wrapper


def paper_wrapper_option(template: str, wrapper: str | None, scorer: str) -> str | None:
    """The wrapper of the 'paper' template (default llama2); naming one for another template is an
    error rather than silently ignored."""
    if template != "paper":
        if wrapper is not None:
            raise StylefitError(f"{scorer}: paper_wrapper applies only to the 'paper' template, not '{template}'")
        return None
    return check_wrapper(wrapper or "llama2")


def require_chat_template(lm: LanguageModel, template: str, scorer: str, option: str) -> None:
    """A base model has no chat template to score under: say which of this scorer's options work."""
    if template == "native" and lm.template_id == "none":
        raise StylefitError(f"{scorer}: model '{lm.name}' has no chat template, so {option} 'native' cannot be used; "
                            f"use {option} 'plain' or 'paper'")


def own_template(lm: LanguageModel) -> str:
    """The template a model answers in by itself: its chat template, or plain text without one."""
    return "native" if lm.template_id != "none" else "plain"


def answer_spec(lm: LanguageModel, spec: GenerationSpec) -> GenerationSpec:
    """How ``lm`` answers: a base model has no end of turn and writes on past its answer (Gemma-3 base
    repeats the question), so it stops at the end of its answer line, as a chat model stops at its end
    of turn. A spec with a stop rule of its own keeps it."""
    if lm.template_id == "none" and spec.stop_regex is None and not spec.stop:
        return replace(spec, stop_regex=ANSWER_LINE)
    return spec


def render_prompt(lm: LanguageModel, template: str, prompt: str, wrapper: str | None = None) -> str:
    """The text the model sees before its answer (what generation starts from)."""
    if template == "native":
        return lm.render_chat(prompt)
    if template == "paper":
        return paper_wrap(prompt, wrapper or "llama2") + " "
    return prompt + "\n"


def continuation_request(lm: LanguageModel, template: str, prompt: str, response: str, label: str = "",
                         wrapper: str | None = None) -> ContinuationRequest:
    """Score ``response`` as the model's answer to ``prompt`` under ``template`` (``wrapper``: the
    paper template's, default llama2)."""
    check_template(template)
    if template == "native":
        return ContinuationRequest(lm.render_chat(prompt), response, special_tokens=False, label=label)
    if template == "paper":
        # Input text = wrapped + " " + response; the context is `wrapped` tokenized alone (PROMPTS.md).
        return ContinuationRequest(paper_wrap(prompt, wrapper or "llama2"), " " + response, special_tokens=True, label=label)
    return ContinuationRequest(prompt + "\n", response, special_tokens=True, label=label)
