"""The GPU recipe behind ``benchmarks/gpu_run.sh`` (docs/gpu.md): prepare here, run there, rehearse here.

    gpu_run.sh --prepare [--encoder DIR] [--pretrain]   here, beforehand: builds the carry folder .gpu/
    gpu_run.sh [--minutes 9]                            on the GPU machine (carry .gpu): one run
    gpu_run.sh --dry-run [--pretrain]                   here or in CI: the same steps on this CPU, tiny

The run fine-tunes the converted all-MiniLM-L6-v2 encoder (``albert-srl convert-encoder``'s output,
``runs/minilm-albert``) on EWT train with the shipped recipe ``configs/ewt-minilm.yaml`` (bigger batches,
more epochs), scores EWT dev (gold predicates and end to end), times tagging, and packs the fine-tuned
model (its encoder in bf16), the logs and ``metrics.json`` into ``gpu-result.tar.gz``, split into parts
of at most 15 MiB under ``$OUT`` (with ``gpu_run.log`` and ``metrics.json`` beside them).

What travels (the checkout, the shipped model included, plus ``.gpu/``) must stay within 64 MiB.
``--prepare`` carries the converted encoder in float32 where it fits, else in bf16 (the run casts it
back), else starts from the shipped model's own encoder (its ``encoder.*`` tensors, exported on the GPU
machine: nothing carried) when that model was fine-tuned from the same encoder; else it fails. With
``--pretrain`` the encoder first continues masked-LM pretraining on packed Wikipedia text (as much as
fits). Every step is a child process (the CLI and the benchmarks, as a user runs them), with its share
of the budget as ``--max-minutes``; nothing reaches the network.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from itertools import islice
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHIPPED_MODEL = Path("albert_srl/models/default")
CONVERTED = Path("runs/minilm-albert")  # albert-srl convert-encoder's output (configs/ewt-minilm.yaml)
PRETRAIN_CONFIG = Path("configs/gpu-pretrain.yaml")
FINETUNE_CONFIG = Path("configs/ewt-minilm.yaml")
PLAN = "plan.json"
WEIGHTS = "model.safetensors"

# What may travel to the GPU machine: the checkout and the carry folder together.
TRAVEL_LIMIT = 64 * 2**20
PLAN_ALLOWANCE = 64 * 2**10  # plan.json, written after the sizes are known
TEXT_MARGIN_MIB = 1.0  # packed text is sized by an estimate: this much is kept free
MIN_TEXT_MIB = 1.0  # less text than this is not worth pretraining on
# What may come back: at most 8 files, 16 MiB each, 64 MiB together (the tarball's parts, the log and
# metrics.json); one MiB is kept for the log's growth after the last pack.
RESULT = "gpu-result.tar.gz"
PART_BYTES = 15 * 2**20
BACK_FILES, BACK_BYTES = 8, 63 * 2**20

# The encoder's sizes that must agree for the shipped model's encoder to be the converted one, trained.
ENCODER_SHAPE = (
    "model_type",
    "vocab_size",
    "embedding_size",
    "hidden_size",
    "num_hidden_layers",
    "num_hidden_groups",
    "num_attention_heads",
    "intermediate_size",
)

# Project dependencies the GPU image lacks and the run imports (checked by the dry run, which blocks
# everything else the image lacks): carried as wheels for its Python 3.12. pydantic and its own
# dependencies came with the output schema that the formats read and write (albert_srl.schema).
CARRIED = (
    "pytorch-crf",
    "conllu",
    "lemminflect",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-inspection",
)
# Installed here but not on the GPU machine, and not carried: the run must never import them.
ABSENT_THERE = (
    "spacy",
    "thinc",
    "fastapi",
    "starlette",
    "uvicorn",
    "gensim",
    "playwright",
    "nltk",
)
WHEEL_PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)

# Each step ends by this fraction of the budget (the rest: scoring, timing, packing); the overheads are
# the minutes a step spends outside its training loop (start-up, loading, compile warm-up, export).
PRETRAIN_ENDS, FINETUNE_ENDS = 0.40, 0.84
PRETRAIN_OVERHEAD, FINETUNE_OVERHEAD = 0.06, 0.04

# Continued pretraining of an already pretrained encoder: a fine-tuning-sized rate, not a fresh one's.
PRETRAINED_PRETRAIN = ["learning_rate=1.0e-4", "warmup_steps=100"]
# The dry run: tiny text, data and encoder; steps capped so that CI stays quick.
TINY_PRETRAIN = [
    "max_length=64",
    "max_tokens=1024",
    "max_steps=6",
    "warmup_steps=2",
    "checkpoint_every=3",
    "log_every=2",
    "eval_documents=2",
    "compile=false",
    "device=cpu",
    "num_threads=2",
]
TINY_FINETUNE = ["epochs=1", "max_tokens=1024", "device=cpu", "num_threads=2"]
# The GPU's fine-tuning: configs/ewt-minilm.yaml (encoder_lr 1e-4, head_lr 1e-3, fusion_layers 2, the
# syntax head) with twice its 1,024-subword batches and twice its 4 epochs: as many updates, on more
# examples each; patience 2 ends it early, --max-minutes at its share of the budget.
GPU_FINETUNE = ["epochs=8", "max_tokens=2048", "device=cuda", "num_threads=null", "bf16=null"]
# The dry run's converted encoder: a random BERT of these sizes over a WordPiece vocabulary trained on
# the tiny EWT train words (fusion_layers 2 needs more than 2 layers).
TINY_BERT = {
    "hidden_size": 32,
    "num_hidden_layers": 3,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 256,
}
GPU_TAG_MODES = "batched-gold,bf16-gold,loop-gold,bf16-predicted"
TINY_TAG_MODES = "bf16-gold,loop-gold"

log = logging.getLogger("gpu_run")


class PrepareError(RuntimeError):
    """What --prepare cannot do (over the 64 MiB, no encoder to start from): one line, exit 1."""


# ---------------------------------------------------------------------------------------------------
# --prepare: the start and the carry folder


def prepare(data: Path, encoder: Path, pretrain: bool, text_mib: float, tiny: bool) -> dict[str, Any]:
    """Fill ``data`` with what the run needs that the checkout lacks: EWT train/dev, the wheels, the
    start encoder when it is carried, packed text with ``pretrain``, and ``plan.json``. Raises
    ``PrepareError`` when no start fits or the total is over ``TRAVEL_LIMIT``."""
    started = time.perf_counter()
    check_encoder(encoder)
    for name in ("start", "packed", "tokenizer", PLAN):  # an earlier preparation's
        remove(data / name)
    data.mkdir(parents=True, exist_ok=True)
    plan: dict[str, Any] = {"created": now(), "tiny": tiny, "pretrain": pretrain}
    plan["ewt"] = copy_ewt(data / "ewt", tiny)
    plan["wheels"] = [] if tiny else download_wheels(data / "wheels")
    checkout = tracked_bytes()
    room = TRAVEL_LIMIT - checkout - folder_bytes(data) - PLAN_ALLOWANCE
    start = choose_start(encoder, REPO / SHIPPED_MODEL, room)
    log.info("start: %s", start["reason"])
    place_start(start, data)
    plan["start"] = start
    if pretrain:
        text_room = (room - start["carried_bytes"]) / 2**20 - TEXT_MARGIN_MIB
        plan["packed"] = pack_for_start(data, start, min(text_mib, text_room), tiny)
    (data / PLAN).write_text(json.dumps(plan, indent=2) + "\n", encoding="utf-8")
    plan["bytes"] = folder_bytes(data)
    total = plan["bytes"] + checkout
    log.info(
        "prepared %s in %.0f s: carry folder %.1f MiB + checkout %.1f MiB = %.1f MiB (the limit is %d MiB)",
        data,
        time.perf_counter() - started,
        plan["bytes"] / 2**20,
        checkout / 2**20,
        total / 2**20,
        TRAVEL_LIMIT // 2**20,
    )
    if total > TRAVEL_LIMIT:
        raise PrepareError(
            f"what travels would be {total / 2**20:.1f} MiB (carry folder {plan['bytes'] / 2**20:.1f} +"
            f" checkout {checkout / 2**20:.1f}), over the {TRAVEL_LIMIT // 2**20} MiB limit"
        )
    return plan


def choose_start(encoder: Path, shipped: Path, room: int) -> dict[str, Any]:
    """Where fine-tuning starts, given ``room`` bytes left for carrying it: the converted encoder in
    float32, else in bf16, else the shipped model's own encoder when it is the converted one trained
    (same sizes and vocabulary), else ``PrepareError``. The dict says which, and why."""
    check_encoder(encoder)
    full, half = encoder_bytes(encoder, halve=False), encoder_bytes(encoder, halve=True)
    room_mib, full_mib, half_mib = room / 2**20, full / 2**20, half / 2**20
    converted = {"kind": "converted", "source": str(encoder), "encoder": "start"}
    if full <= room:
        reason = f"the converted encoder {encoder} in float32 ({full_mib:.1f} MiB of {room_mib:.1f} MiB left)"
        return {**converted, "dtype": "float32", "carried_bytes": full, "reason": reason}
    if half <= room:
        reason = (
            f"the converted encoder {encoder} in bf16 ({half_mib:.1f} MiB; float32's {full_mib:.1f} MiB does"
            f" not fit the {room_mib:.1f} MiB left beside the checkout); the run casts it back to float32"
        )
        return {**converted, "dtype": "bfloat16", "carried_bytes": half, "reason": reason}
    mismatch = encoder_mismatch(shipped, encoder)
    if mismatch is None:
        model = inside_checkout(shipped)
        reason = (
            f"the shipped model's own encoder ({model}, fine-tuned from {encoder}; exported on the GPU"
            f" machine, nothing carried): the converted encoder does not fit the {room_mib:.1f} MiB left"
            f" beside the checkout, even in bf16 ({half_mib:.1f} MiB)"
        )
        digest = file_digest(shipped / WEIGHTS)
        return {"kind": "shipped", "source": str(model), "encoder": None, "dtype": "float32",
                "carried_bytes": 0, "reason": reason, "shipped_sha256": digest}  # fmt: skip
    raise PrepareError(
        f"the converted encoder {encoder} does not fit the {room_mib:.1f} MiB left beside the checkout, even"
        f" in bf16 ({half_mib:.1f} MiB), and the shipped model's encoder is not it ({mismatch})"
    )


def check_encoder(encoder: Path) -> None:
    """``PrepareError`` unless ``encoder`` holds an encoder's config and safetensors weights."""
    if not (encoder / "config.json").is_file() or not (encoder / WEIGHTS).is_file():
        raise PrepareError(
            f"no converted encoder in {encoder}: make it with albert-srl convert-encoder (docs/model.md,"
            " configs/ewt-minilm.yaml), or name one with --encoder DIR"
        )


def encoder_bytes(encoder: Path, halve: bool) -> int:
    """Bytes the encoder directory's files weigh, with its float32 tensors halved when ``halve``."""
    from safetensors import safe_open

    total = folder_bytes(encoder)
    if halve:
        with safe_open(str(encoder / WEIGHTS), "pt") as weights:
            for key in weights.keys():  # noqa: SIM118 (safe_open is no mapping)
                piece = weights.get_slice(key)
                if piece.get_dtype() == "F32":
                    count = 1
                    for size in piece.get_shape():
                        count *= size
                    total -= 2 * count
    return total


def encoder_mismatch(shipped: Path, encoder: Path) -> str | None:
    """``None`` when the shipped model's encoder has the converted encoder's sizes and vocabulary, else
    what differs."""
    from albert_srl.conversion import srl_encoder_config
    from albert_srl.errors import SRLFormatError
    from albert_srl.model.tokenizer import load_tokenizer

    try:
        ours = srl_encoder_config(shipped)
    except SRLFormatError as error:
        return str(error)
    theirs = json.loads((encoder / "config.json").read_text(encoding="utf-8"))
    differ = [key for key in ENCODER_SHAPE if ours.get(key) != theirs.get(key)]
    if differ:
        shown = ", ".join(f"{key} {ours.get(key)} against {theirs.get(key)}" for key in differ[:3])
        return shown + (f" and {len(differ) - 3} more" if len(differ) > 3 else "")
    if load_tokenizer(shipped).get_vocab() != load_tokenizer(encoder).get_vocab():
        return "another vocabulary"
    return None


def place_start(start: dict[str, Any], data: Path) -> None:
    """Copy a converted start into ``data/start`` (its weights in ``start['dtype']``)."""
    if start["kind"] != "converted":
        return
    copy_encoder(Path(start["source"]), data / "start", start["dtype"])
    start["carried_bytes"] = folder_bytes(data / "start")


def copy_encoder(source: Path, out: Path, dtype: str) -> None:
    """An encoder directory's files (not its checkpoints) into ``out``, floating weights in ``dtype``."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for path in source.iterdir():
        if path.is_file() and path.name != WEIGHTS:
            shutil.copy2(path, out / path.name)
    cast_weights(source / WEIGHTS, out / WEIGHTS, dtype)
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    (out / "config.json").write_text(
        json.dumps({**config, "dtype": dtype}, indent=2) + "\n", encoding="utf-8"
    )


def cast_weights(source: Path, target: Path, dtype: str, prefix: str = "") -> None:
    """``source``'s safetensors with its floating tensors under ``prefix`` cast to ``dtype``."""
    import torch
    from safetensors.torch import load_file, save_file

    wanted = getattr(torch, dtype)
    state = load_file(str(source))
    for key, value in state.items():
        if key.startswith(prefix) and value.is_floating_point():
            state[key] = value.to(wanted).contiguous()
    save_file(state, str(target), {"format": "pt"})


def copy_ewt(out: Path, tiny: bool) -> dict[str, str]:
    """EWT train and dev from ``../shared`` (which does not travel): whole, or a few sentences for the
    dry run."""
    from albert_srl import formats

    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, limit in (("train", 150), ("dev", 30)):
        source = SHARED / "corpora" / "ewt" / f"{split}.gold_conll.gz"
        target = out / source.name
        if tiny:
            formats.write(islice(formats.read(source), limit), target, "conll12")
        else:
            shutil.copy2(source, target)
        files[split] = str(target)
    return files


def pack_for_start(data: Path, start: dict[str, Any], text_mib: float, tiny: bool) -> dict[str, Any]:
    """Packed text for ``--pretrain``, with the start encoder's vocabulary (the shipped model's, from a
    scratch export, when it starts there)."""
    if text_mib < MIN_TEXT_MIB and not tiny:
        raise PrepareError(
            f"--pretrain: {text_mib:.1f} MiB is left for packed text beside {start['kind']} start, below the"
            f" {MIN_TEXT_MIB:.0f} MiB worth pretraining on: prepare without --pretrain"
        )
    if start["kind"] == "converted":
        return pack_text(data, data / "start", text_mib, tiny)
    from albert_srl.conversion import export_encoder

    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = export_encoder(REPO / SHIPPED_MODEL, Path(scratch) / "encoder")
        return pack_text(data, tokenizer, text_mib, tiny)


def pack_text(data: Path, tokenizer: Path, text_mib: float, tiny: bool) -> dict[str, Any]:
    """Pack Wikipedia text into ``data/packed`` with the vocabulary of the encoder directory
    ``tokenizer``: about ``text_mib`` MiB of shards spread over the five files."""
    from albert_srl.config import load_pretrain_config
    from albert_srl.pretraining.corpus import prepare_corpus

    # ~560 tokens a Wikipedia document, ~1.4 bytes a token in the compressed shards (measured on the
    # five shared files with a 16,000-piece vocabulary: 69.1 M tokens in 95 MB)
    per_file = 30 if tiny else max(1, int(text_mib * 2**20 / (1.4 * 560 * 5)))
    overrides = [f"packed_dir={data / 'packed'}", f"max_documents={per_file}", *PRETRAINED_PRETRAIN]
    if tiny:
        overrides += [*TINY_PRETRAIN, f"text_paths=[{SHARED / 'pretrain' / 'wikipedia-000.txt.gz'}]"]
    packing = [*overrides, f"encoder.pretrained={tokenizer}", f"output_dir={data / 'scratch'}"]
    config = load_pretrain_config(REPO / PRETRAIN_CONFIG, packing)
    corpus = prepare_corpus(config, tokenizer)
    shutil.rmtree(data / "scratch", ignore_errors=True)
    packed = {"documents_per_file": per_file, "documents": corpus.documents, "tokens": len(corpus.ids)}
    packed["bytes"] = folder_bytes(data / "packed")
    packed["overrides"] = overrides  # the run's pretraining config is the one the text was packed for
    log.info(
        "packed %d documents, %d tokens, %.1f MiB", corpus.documents, len(corpus.ids), packed["bytes"] / 2**20
    )
    return packed


def download_wheels(out: Path) -> list[str]:
    """Wheels of ``CARRIED`` (the versions installed here) for the GPU machine's Python 3.12."""
    from importlib.metadata import version

    shutil.rmtree(out, ignore_errors=True)
    pins = [f"{name}=={version(name)}" for name in CARRIED]
    platforms = [arg for platform in WHEEL_PLATFORMS for arg in ("--platform", platform)]
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.12",
        "--implementation",
        "cp",
        *platforms,
        "-d",
        str(out),
        *pins,
    ]
    log.info("downloading wheels: %s", " ".join(pins))
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return sorted(path.name for path in out.glob("*.whl"))


def tiny_converted_encoder(ewt_train: Path, out: Path) -> Path:
    """The dry run's converted encoder: a random BERT (``TINY_BERT``) over a WordPiece vocabulary trained
    on the tiny EWT train words, through ``albert-srl convert-encoder``'s function into ``out``."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from albert_srl import formats
    from albert_srl.conversion import convert_encoder

    bert = out.with_name(f"{out.name}-bert")
    shutil.rmtree(bert, ignore_errors=True)
    lines = [" ".join(sentence.words) for sentence in formats.read(ewt_train)]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(lines, trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials))
    tokenizer.post_processor = processors.BertProcessing(("[SEP]", 3), ("[CLS]", 2))
    fast = BertTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                             cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")  # fmt: skip
    fast.save_pretrained(bert)
    torch.manual_seed(13)
    BertModel(BertConfig(vocab_size=len(fast), **TINY_BERT)).save_pretrained(bert)
    shutil.rmtree(out, ignore_errors=True)
    return convert_encoder(bert, out).directory


# ---------------------------------------------------------------------------------------------------
# The run


class Run:
    """One run of the recipe: its budget, folders, log and the numbers it gathers."""

    def __init__(self, data: Path, out: Path, work: Path, minutes: float, dry_run: bool) -> None:
        self.data, self.out, self.work, self.dry_run = data, out, work, dry_run
        self.budget = 60 * minutes
        self.start = float(os.environ.get("GPU_RUN_START", time.time()))
        self.plan = json.loads((data / PLAN).read_text(encoding="utf-8"))
        self.metrics: dict[str, Any] = {"budget_minutes": minutes, "dry_run": dry_run, "steps": {}}
        self.env = dict(os.environ)

    def elapsed(self) -> float:
        return time.time() - self.start

    def minutes_until(self, fraction: float, overhead: float) -> float:
        """Minutes a step's loop may run so that it ends by ``fraction`` of the budget."""
        left = fraction * self.budget - self.elapsed() - overhead * self.budget
        return round(max(left, 3.0) / 60, 3)  # never below a few seconds: the step still ends cleanly

    def step(self, name: str, command: list[str]) -> None:
        """Run one child process, its output streamed into ``work/logs/NAME.log`` and the run's log."""
        logs = self.work / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log.info("step %s: %s", name, " ".join(command))
        started = time.perf_counter()
        with open(logs / f"{name}.log", "w", encoding="utf-8") as step_log:
            child = subprocess.Popen(
                command, cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            assert child.stdout is not None
            for line in child.stdout:
                step_log.write(line)
                log.info("  %s| %s", name, line.rstrip())
            code = child.wait()
        seconds = round(time.perf_counter() - started, 1)
        self.metrics["steps"][name] = seconds
        log.info(
            "step %s: exit %d after %.1f s (%.1f of %.1f minutes used)",
            name,
            code,
            seconds,
            self.elapsed() / 60,
            self.budget / 60,
        )
        if code != 0:
            raise StepFailed(f"step {name} failed (exit {code}); see logs/{name}.log")


class StepFailed(RuntimeError):
    pass


def run(data: Path, out: Path, work: Path, minutes: float, dry_run: bool) -> int:
    """All steps of the run; whatever was made is packed even when a step fails."""
    if not (data / PLAN).exists():
        raise SystemExit(f"{data / PLAN} is missing: run benchmarks/gpu_run.sh --prepare first (docs/gpu.md)")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    recipe = Run(data, out, work, minutes, dry_run)
    failed = None
    try:
        install_wheels(recipe)
        describe_machine(recipe)
        encoder = start_step(recipe)
        if recipe.plan["pretrain"]:
            encoder = pretrain_step(recipe, encoder)
            pack(recipe)  # something comes back even if a later step runs out of time
        finetune_step(recipe, encoder)
        pack(recipe)
        score_step(recipe)
        timing_step(recipe)
    except StepFailed as error:
        failed = str(error)
        log.error("%s", failed)
    recipe.metrics["failed"] = failed
    recipe.metrics["minutes"] = round(recipe.elapsed() / 60, 2)
    pack(recipe)
    log.info("done in %.2f minutes%s", recipe.elapsed() / 60, f" ({failed})" if failed else "")
    return 1 if failed else 0


def install_wheels(recipe: Run) -> None:
    """The carried wheels into a private site folder that every step's ``PYTHONPATH`` puts first."""
    wheels = sorted((recipe.data / "wheels").glob("*.whl"))
    if not wheels:
        log.info("no wheels carried: using the installed packages")
    else:
        site = Path(os.environ.get("GPU_RUN_SITE", "/tmp/site"))
        recipe.step(
            "install",
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-index",
                "--no-deps",
                "--no-compile",
                "--no-cache-dir",
                "--upgrade",
                "--target",
                str(site),
                *map(str, wheels),
            ],
        )
        recipe.env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(site), recipe.env.get("PYTHONPATH", "")])
    if recipe.dry_run:  # prove the run imports nothing the GPU image lacks
        blocker = recipe.work / "absent"
        blocker.mkdir()
        (blocker / "sitecustomize.py").write_text(BLOCKER.format(names=ABSENT_THERE), encoding="utf-8")
        recipe.env["PYTHONPATH"] = os.pathsep.join([str(blocker), recipe.env.get("PYTHONPATH", str(REPO))])


BLOCKER = '''"""Written by benchmarks/gpu_run.py --dry-run: these packages are not on the GPU machine."""
import importlib.abc
import sys

ABSENT = {names!r}


class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ABSENT:
            raise ImportError(f"{{name}} is not on the GPU machine (benchmarks/gpu_run.py ABSENT_THERE)")
        return None


sys.meta_path.insert(0, Absent())
'''


def describe_machine(recipe: Run) -> None:
    import torch
    import transformers

    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if cuda else "cpu"
    recipe.metrics.update(device=device, torch=torch.__version__, transformers=transformers.__version__)
    log.info(
        "device %s, torch %s, transformers %s, python %s",
        device,
        torch.__version__,
        transformers.__version__,
        sys.version.split()[0],
    )
    if not cuda and not recipe.dry_run:
        raise StepFailed("no CUDA device: the real run needs the GPU (use --dry-run on a CPU)")


def start_step(recipe: Run) -> Path:
    """The start encoder in float32 in ``work/start``: the carried converted encoder cast back, or the
    shipped model's encoder exported from the checkout."""
    import torch

    from albert_srl.conversion import export_encoder

    start, target = recipe.plan["start"], recipe.work / "start"
    started = time.perf_counter()
    if start["kind"] == "converted":
        copy_encoder(recipe.data / start["encoder"], target, "float32")
    else:
        if file_digest(REPO / SHIPPED_MODEL / WEIGHTS) != start["shipped_sha256"]:
            log.warning("%s changed since --prepare: starting from the one here", SHIPPED_MODEL)
        export_encoder(REPO / SHIPPED_MODEL, target, dtype=torch.float32)
    seconds = round(time.perf_counter() - started, 1)
    recipe.metrics["steps"]["start"] = seconds
    recipe.metrics["start"] = {key: start[key] for key in ("kind", "source", "dtype", "reason")}
    log.info("start encoder in %s after %.1f s: %s", target, seconds, start["reason"])
    return target


def pretrain_step(recipe: Run, encoder: Path) -> Path:
    """Continue pretraining the start encoder until ``PRETRAIN_ENDS`` of the budget (``--pretrain``)."""
    output = recipe.work / "encoder"
    overrides = [*recipe.plan["packed"]["overrides"], f"encoder.pretrained={encoder}", f"output_dir={output}"]
    minutes = recipe.minutes_until(PRETRAIN_ENDS, PRETRAIN_OVERHEAD)
    recipe.step(
        "pretrain",
        [
            sys.executable,
            "-m",
            "albert_srl.cli",
            "pretrain",
            str(PRETRAIN_CONFIG),
            "--set",
            *overrides,
            "--max-minutes",
            str(minutes),
        ],
    )
    record = json.loads((output / "pretraining.json").read_text(encoding="utf-8"))
    this_run = record["runs"][-1]
    speed = this_run["tokens_seen"] / max(this_run["seconds"], 1e-9)
    recipe.metrics["pretraining"] = {
        **this_run,
        "tokens_per_second": round(speed),
        "in_all": {key: record[key] for key in ("steps", "tokens_seen", "seconds")},
    }
    log.info(
        "pretraining: %d steps, %d tokens in %.0f s: %.0f tokens/s; held-out %s",
        this_run["steps"],
        this_run["tokens_seen"],
        this_run["seconds"],
        speed,
        this_run["held_out"],
    )
    return output


def finetune_step(recipe: Run, encoder: Path) -> None:
    """Fine-tune ``encoder`` on EWT train with configs/ewt-minilm.yaml until ``FINETUNE_ENDS``."""
    ewt = recipe.plan["ewt"]
    overrides = [
        f"train_path={ewt['train']}",
        f"dev_path={ewt['dev']}",
        f"output_dir={recipe.work / 'model'}",
        f"encoder.pretrained={encoder}",
        "checkpoint_every=null",
        *(TINY_FINETUNE if recipe.plan["tiny"] else GPU_FINETUNE),
    ]
    minutes = recipe.minutes_until(FINETUNE_ENDS, FINETUNE_OVERHEAD)
    recipe.step(
        "finetune",
        [
            sys.executable,
            "-m",
            "albert_srl.cli",
            "train",
            str(FINETUNE_CONFIG),
            "--set",
            *overrides,
            "--max-minutes",
            str(minutes),
        ],
    )
    epochs = [json.loads(line) for line in (recipe.work / "model" / "metrics.jsonl").read_text().splitlines()]
    best = max(epochs, key=lambda epoch: epoch["f1"])
    recipe.metrics["finetune"] = {"epochs": epochs, "best_epoch": best["epoch"], "best_f1": best["f1"]}
    log.info("fine-tuning: %d epochs, best dev F1 %.2f (epoch %d)", len(epochs), best["f1"], best["epoch"])
    note_gpu_minutes(recipe)


def note_gpu_minutes(recipe: Run) -> None:
    """Say in the fine-tuned model's card where, from what and in how many minutes it was made."""
    card = recipe.work / "model" / "best" / "README.md"
    steps, device = recipe.metrics["steps"], recipe.metrics["device"]
    minutes = (steps.get("pretrain", 0.0) + steps["finetune"]) / 60
    pretraining = recipe.metrics.get("pretraining")
    then = "no pretraining"
    if pretraining is not None:
        then = (
            f"{steps['pretrain'] / 60:.1f} minutes of continued pretraining ({pretraining['tokens_seen']:,}"
            f" tokens at {pretraining['tokens_per_second']:,} tokens/s)"
        )
    note = (
        f"\n## Made by benchmarks/gpu_run.sh\n\n{minutes:.1f} minutes on {device} (torch"
        f" {recipe.metrics['torch']}, {now()}), wall clock, starting from"
        f" {recipe.metrics['start']['reason']}: {then}, then {steps['finetune'] / 60:.1f} minutes of"
        f" fine-tuning ({FINETUNE_CONFIG}).\n"
    )
    card.write_text(card.read_text(encoding="utf-8") + note, encoding="utf-8")


def score_step(recipe: Run) -> None:
    """EWT dev, gold predicates and end to end (benchmarks/dev_scores.py)."""
    device = "cpu" if recipe.dry_run else "cuda"
    scores = recipe.work / "dev_scores.json"
    recipe.step(
        "dev_scores",
        [
            sys.executable,
            "benchmarks/dev_scores.py",
            str(recipe.work / "model" / "best"),
            "--dev",
            recipe.plan["ewt"]["dev"],
            "--device",
            device,
            "--json",
            str(scores),
        ],
    )
    recipe.metrics["dev"] = json.loads(scores.read_text(encoding="utf-8"))
    gold, e2e = recipe.metrics["dev"]["gold_predicates"], recipe.metrics["dev"]["end_to_end"]
    log.info(
        "dev F1: %.2f with gold predicates, %.2f end to end (EWT dev, %d sentences)",
        gold["f1"],
        e2e["f1"],
        recipe.metrics["dev"]["sentences"],
    )


def timing_step(recipe: Run) -> None:
    """Tagging speed on EWT dev (benchmarks/tag_speed.py): batched float32 and bf16 against the loop."""
    timing = recipe.work / "tag_speed.json"
    command = [
        sys.executable,
        "benchmarks/tag_speed.py",
        "--model",
        str(recipe.work / "model" / "best"),
        "--dev",
        recipe.plan["ewt"]["dev"],
        "--json",
        str(timing),
    ]
    if recipe.dry_run:
        command += ["--device", "cpu", "--modes", TINY_TAG_MODES, "--limit", "20"]
    else:
        command += ["--device", "cuda", "--modes", GPU_TAG_MODES]
    recipe.step("tag_speed", command)
    rows = json.loads(timing.read_text(encoding="utf-8"))["rows"]
    speeds = {mode: round(row["sentences"] / row["seconds"], 1) for mode, row in rows.items()}
    recipe.metrics["tag_speed"] = {"sentences_per_second": speeds, "rows": rows}
    log.info("tagging sentences/s on EWT dev: %s", speeds)


# ---------------------------------------------------------------------------------------------------
# What comes back


def pack(recipe: Run) -> None:
    """The tarball, split into ``RESULT.00``, ``.01`` ... under ``out``: the fine-tuned model (its
    encoder in bf16), a pretrained encoder's config and record, logs, metrics; ``gpu_run.log``'s copy
    and ``metrics.json`` beside them. Leaves the earlier parts when the new ones would not come back."""
    out, work = recipe.out, recipe.work
    out.mkdir(parents=True, exist_ok=True)
    (work / "metrics.json").write_text(json.dumps(recipe.metrics, indent=2) + "\n", encoding="utf-8")
    shutil.copy2(work / "metrics.json", out / "metrics.json")
    tarball = work / RESULT
    with tarfile.open(tarball, "w:gz") as tar:
        for name in ("metrics.json", "dev_scores.json", "tag_speed.json", "logs"):
            if (work / name).exists():
                tar.add(work / name, arcname=name)
        tar.add(recipe.data / PLAN, arcname=PLAN)
        if (out / "gpu_run.log").exists():
            tar.add(out / "gpu_run.log", arcname="logs/gpu_run.log")
        if (work / "model" / "best").exists():
            tar.add(bf16_model(work / "model" / "best", work / "model-bf16"), arcname="model")
            tar.add(work / "model" / "metrics.jsonl", arcname="model-metrics.jsonl")
        for name in ("config.json", "pretraining.json", "README.md"):  # not the pretrained weights
            if (work / "encoder" / name).exists():
                tar.add(work / "encoder" / name, arcname=f"encoder/{name}")
    beside = sum(
        (out / name).stat().st_size for name in ("gpu_run.log", "metrics.json") if (out / name).exists()
    )
    parts = -(-tarball.stat().st_size // PART_BYTES)
    if tarball.stat().st_size + beside > BACK_BYTES or parts + 2 > BACK_FILES:
        log.error(
            "%s would be %.1f MiB in %d parts, over what may come back (%d files, %d MiB): not written",
            RESULT,
            tarball.stat().st_size / 2**20,
            parts,
            BACK_FILES,
            BACK_BYTES // 2**20,
        )
        return
    written = split_file(tarball, out, PART_BYTES)
    log.info("packed %s.* in %d parts (%.1f MiB)", out / RESULT, len(written), tarball.stat().st_size / 2**20)


def bf16_model(model: Path, out: Path) -> Path:
    """A copy of the model directory ``model`` in ``out`` with its ``encoder.*`` tensors in bf16 (the
    heads stay float32): what comes back, at half the size; ``from_pretrained`` casts it back."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for path in model.iterdir():
        if path.is_file() and path.name != WEIGHTS:
            shutil.copy2(path, out / path.name)
    cast_weights(model / WEIGHTS, out / WEIGHTS, "bfloat16", prefix="encoder.")
    return out


def split_file(path: Path, out: Path, part_bytes: int) -> list[Path]:
    """``path`` cut into ``out/NAME.00``, ``.01`` ... of at most ``part_bytes`` each (``cat`` joins
    them), replacing the parts an earlier call wrote."""
    staged = []
    with path.open("rb") as source:
        for index, block in enumerate(iter(lambda: source.read(part_bytes), b"")):
            part = out / f".{path.name}.{index:02d}.tmp"
            part.write_bytes(block)
            staged.append(part)
    for old in out.glob(f"{path.name}.[0-9][0-9]"):
        old.unlink()
    written = [part.with_name(part.name[1:].removesuffix(".tmp")) for part in staged]
    for part, target in zip(staged, written, strict=True):
        os.replace(part, target)
    return written


# ---------------------------------------------------------------------------------------------------
# The command


def remove(path: Path) -> None:
    """Delete a file or a folder, if there."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def file_digest(path: Path) -> str:
    from albert_srl.conversion import file_sha256

    return file_sha256(path)


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--prepare", action="store_true", help="build the carry folder here, beforehand")
    action.add_argument("--dry-run", action="store_true", help="the whole recipe, tiny, on this CPU")
    parser.add_argument(
        "--encoder",
        type=Path,
        default=CONVERTED,
        help=f"--prepare: the converted encoder to fine-tune (default {CONVERTED})",
    )
    parser.add_argument(
        "--pretrain",
        action="store_true",
        help="--prepare / --dry-run: continue pretraining the encoder before fine-tuning (packs text)",
    )
    parser.add_argument("--data", type=Path, help="the carry folder (default .gpu; a dry run's: WORK-data)")
    parser.add_argument("--out", type=Path, help="where the results go (default $OUT, else WORK/out)")
    parser.add_argument("--work", type=Path, help="scratch folder of the run (default /tmp/gpu-run)")
    parser.add_argument("--minutes", type=float, help="time budget (default 9; dry run 1)")
    parser.add_argument(
        "--text-mib",
        type=float,
        default=30.0,
        help="--prepare --pretrain: at most this many MiB of packed text",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.work or (REPO / "runs" / "gpu-dry-run" if args.dry_run else Path("/tmp/gpu-run"))
    out = args.out or Path(os.environ.get("OUT") or work / "out")
    out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        handlers=[logging.StreamHandler(), logging.FileHandler(out / "gpu_run.log", mode="w")],
    )
    os.chdir(REPO)  # paths inside the checkout are kept relative: the GPU machine has it elsewhere
    try:
        if args.prepare:
            prepare(
                inside_checkout(args.data or REPO / ".gpu"), args.encoder, args.pretrain, args.text_mib, False
            )
            return 0
        data = inside_checkout(
            args.data or (work.parent / f"{work.name}-data" if args.dry_run else REPO / ".gpu")
        )
        if args.dry_run:
            rehearse_preparation(data, work, args.pretrain)
    except PrepareError as error:
        log.error("--prepare failed: %s", error)
        return 1
    return run(data, out, work, args.minutes or (1.0 if args.dry_run else 9.0), args.dry_run)


def rehearse_preparation(data: Path, work: Path, pretrain: bool) -> None:
    """The dry run's --prepare: tiny EWT, a tiny converted encoder, tiny text with ``pretrain``."""
    shutil.rmtree(data, ignore_errors=True)
    encoder = tiny_converted_encoder(
        prepare_tiny_train(work.parent / f"{work.name}-ewt"), work.parent / f"{work.name}-encoder"
    )
    prepare(data, encoder, pretrain, 0.0, tiny=True)
    os.environ["GPU_RUN_START"] = str(time.time())  # the budget is the run's, as on the GPU machine


def prepare_tiny_train(folder: Path) -> Path:
    """The tiny EWT train sentences the dry run's vocabulary is trained on."""
    return Path(copy_ewt(folder, tiny=True)["train"])


def inside_checkout(path: Path) -> Path:
    """``path`` relative to the repository root when it lies inside it, else absolute."""
    path = path.resolve()
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def tracked_bytes() -> int:
    """Bytes of what travels besides the carry folder: tracked and untracked, not ignored, files."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    return sum(
        (REPO / name).stat().st_size for name in listing.decode().split("\0") if (REPO / name).is_file()
    )


if __name__ == "__main__":
    sys.exit(main())
