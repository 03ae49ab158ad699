"""How a (prompt, response) pair becomes text for the model: chat templates and the paper's strings.

Three templates:
- ``native``: the target's own chat template (the default: familiarity moves wholesale with the
  template, DESIGN.md §5);
- ``paper``: the authors' Llama-2 style wrapper, used for every model in their code, with the
  response appended after one space and the tokenizer's special tokens added (PROMPTS.md);
- ``plain``: the prompt, a newline, the response (for base models without a chat template).

The SPPL prompt text is reproduced character for character from the authors' code.
"""

from __future__ import annotations

from stylefit.errors import StylefitError
from stylefit.models.base import ContinuationRequest, LanguageModel

TEMPLATES = ("native", "paper", "plain")

PAPER_SYSTEM_WRAPPER = "[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\n{prompt} [/INST]"
PAPER_MISTRAL_WRAPPER = "[INST] {prompt} [/INST]"

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


def paper_wrap(prompt: str, mistral: bool = False) -> str:
    return (PAPER_MISTRAL_WRAPPER if mistral else PAPER_SYSTEM_WRAPPER).replace("{prompt}", prompt)


def _is_mistral(lm: LanguageModel) -> bool:
    """The authors wrapped Mistral without a system block and every other model with one."""
    return "mistral" in lm.name.lower()


def check_template(template: str) -> str:
    if template not in TEMPLATES:
        raise StylefitError(f"unknown template '{template}' (known: {', '.join(TEMPLATES)})")
    return template


def own_template(lm: LanguageModel) -> str:
    """The template a model answers in by itself: its chat template, or plain text without one."""
    return "native" if lm.template_id != "none" else "plain"


def render_prompt(lm: LanguageModel, template: str, prompt: str) -> str:
    """The text the model sees before its answer (what generation starts from)."""
    if template == "native":
        return lm.render_chat(prompt)
    if template == "paper":
        return paper_wrap(prompt, _is_mistral(lm)) + " "
    return prompt + "\n"


def continuation_request(lm: LanguageModel, template: str, prompt: str, response: str, label: str = "") -> ContinuationRequest:
    """Score ``response`` as the model's answer to ``prompt`` under ``template``."""
    check_template(template)
    if template == "native":
        return ContinuationRequest(lm.render_chat(prompt), response, special_tokens=False, label=label)
    if template == "paper":
        # Input text = wrapped + " " + response; the context is `wrapped` tokenized alone (PROMPTS.md).
        return ContinuationRequest(paper_wrap(prompt, _is_mistral(lm)), " " + response, special_tokens=True, label=label)
    return ContinuationRequest(prompt + "\n", response, special_tokens=True, label=label)
