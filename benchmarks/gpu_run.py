"""The GPU recipe behind ``benchmarks/gpu_run.sh`` (docs/gpu.md): prepare here, run there, rehearse here.

    gpu_run.sh --prepare [--from DIR]   here, beforehand: builds the git-ignored carry folder ``.gpu/``
    gpu_run.sh [--minutes 9]            on the GPU machine (carry ``.gpu``): the run, then one tarball
    gpu_run.sh --dry-run                here or in CI: the same steps on this CPU, tiny, about a minute

The run installs the carried wheels, continues pretraining the encoder it was prepared for (the shipped
``albert_srl/models/encoder`` when present, else ``--from DIR``, else a fresh one) for most of the budget,
fine-tunes on EWT train, scores EWT dev (gold predicates and end to end), times tagging (batched float32
and bf16 against the per-predicate loop) and packs the fine-tuned model, the encoder, the logs and
``metrics.json`` into ``gpu-result.tar.gz`` under ``$OUT`` (with ``gpu_run.log`` and ``metrics.json``
beside it). Every step is a child process (the CLI and the benchmarks, as a user runs them), with its
share of the budget as ``--max-minutes``; nothing reaches the network.
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
import time
from itertools import islice
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHIPPED_ENCODER = Path("albert_srl/models/encoder")
PRETRAIN_CONFIG = Path("configs/gpu-pretrain.yaml")
FINETUNE_CONFIG = Path("configs/ewt.yaml")
RESULT = "gpu-result.tar.gz"
MAX_RESULT_BYTES = 16 * 2**20  # what one file back from the GPU machine may weigh
PLAN = "plan.json"

# Project dependencies the GPU image lacks and the run imports (checked by the dry run, which blocks
# everything else the image lacks): carried as wheels for its Python 3.12.
CARRIED = ("pytorch-crf", "conllu", "lemminflect")
# Installed here but not on the GPU machine, and not carried: the run must never import them.
ABSENT_THERE = (
    "spacy",
    "thinc",
    "fastapi",
    "starlette",
    "pydantic",
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
PRETRAIN_ENDS, FINETUNE_ENDS = 0.62, 0.84
PRETRAIN_OVERHEAD, FINETUNE_OVERHEAD = 0.06, 0.04

# The dry run: tiny text, data and model; steps capped so that CI stays quick.
TINY_PRETRAIN = [
    "encoder.vocab_size=300",
    "encoder.embedding_size=16",
    "encoder.hidden_size=32",
    "encoder.num_hidden_layers=2",
    "encoder.num_attention_heads=2",
    "encoder.intermediate_size=64",
    "encoder.max_position_embeddings=64",
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
    "vocab_paragraphs=300",
    "vocab_conll=[]",
]
TINY_FINETUNE = ["epochs=1", "max_tokens=1024", "device=cpu", "num_threads=2"]
# The GPU's fine-tuning: bigger batches than the CPU's 1,024 subwords, a pretrained encoder's rate.
GPU_FINETUNE = [
    "epochs=8",
    "max_tokens=4096",
    "encoder_lr=2.0e-4",
    "head_lr=1.0e-3",
    "device=cuda",
    "num_threads=null",
    "bf16=null",
]
GPU_TAG_MODES = "batched-gold,bf16-gold,loop-gold,bf16-predicted"
TINY_TAG_MODES = "bf16-gold,loop-gold"

log = logging.getLogger("gpu_run")


# ---------------------------------------------------------------------------------------------------
# --prepare: the carry folder


def prepare(data: Path, source: Path | None, text_mib: float, tiny: bool) -> dict[str, Any]:
    """Fill ``data`` with what the run needs that the checkout lacks: the packed text (with the start
    encoder's vocabulary), EWT train/dev, the wheels, and ``plan.json`` saying where the run starts."""
    data.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    start = choose_start(data, source)
    log.info("the run will start from %s", start["description"])
    plan: dict[str, Any] = {"created": now(), "tiny": tiny, "start": start}
    plan["ewt"] = copy_ewt(data / "ewt", tiny)
    plan["packed"] = pack_text(data, start, text_mib, tiny)
    plan["wheels"] = [] if tiny else download_wheels(data / "wheels")
    (data / PLAN).write_text(json.dumps(plan, indent=2) + "\n", encoding="utf-8")
    plan["bytes"] = folder_bytes(data)
    log.info("prepared %s in %.0f s: %.1f MiB", data, time.perf_counter() - started, plan["bytes"] / 2**20)
    return plan


def choose_start(data: Path, source: Path | None) -> dict[str, Any]:
    """The shipped encoder when the checkout has one, else a copy of ``source`` (a pretraining run's
    output) in ``data/start``, else a fresh encoder with a vocabulary trained into ``data/tokenizer``."""
    shutil.rmtree(data / "start", ignore_errors=True)
    if (REPO / SHIPPED_ENCODER / "config.json").exists():
        return {"kind": "shipped", "encoder": str(SHIPPED_ENCODER), "description": f"{SHIPPED_ENCODER}"}
    if source is not None:
        if not (source / "config.json").exists():
            raise SystemExit(f"--from {source}: no encoder there (config.json)")
        (data / "start").mkdir()
        for path in source.iterdir():  # the export's files; not its checkpoints or packing
            if path.is_file():
                shutil.copy2(path, data / "start" / path.name)
        return {"kind": "run", "encoder": str(data / "start"), "description": f"{source} (copied)"}
    return {"kind": "fresh", "encoder": None, "description": "a fresh encoder (configs/gpu-pretrain.yaml)"}


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


def pack_text(data: Path, start: dict[str, Any], text_mib: float, tiny: bool) -> dict[str, Any]:
    """Pack Wikipedia text into ``data/packed`` with the start encoder's vocabulary (a fresh start's is
    trained first into ``data/tokenizer``), about ``text_mib`` MiB of shards spread over the files."""
    from albert_srl.config import load_pretrain_config
    from albert_srl.pretraining.corpus import prepare_corpus, prepare_tokenizer

    shutil.rmtree(data / "packed", ignore_errors=True)
    # ~560 tokens a Wikipedia document, ~1.4 bytes a token in the compressed shards (measured on the
    # five shared files with a 16,000-piece vocabulary: 69.1 M tokens in 95 MB)
    per_file = 30 if tiny else int(text_mib * 2**20 / (1.4 * 560 * 5))
    overrides = [f"packed_dir={data / 'packed'}", f"max_documents={per_file}"]
    if tiny:
        overrides += [*TINY_PRETRAIN, f"text_paths=[{SHARED / 'pretrain' / 'wikipedia-000.txt.gz'}]"]
    if start["encoder"] is not None:
        overrides.append(f"encoder.pretrained={start['encoder']}")
    else:
        shutil.rmtree(data / "tokenizer", ignore_errors=True)
        overrides.append(f"encoder.tokenizer={data / 'tokenizer'}")
        if not tiny:  # 200,000 paragraphs take minutes more and make much the same 8,000 pieces
            overrides.append("vocab_paragraphs=50000")
    start["overrides"] = overrides  # the run's pretraining config is the one the text was packed for
    overrides = [*overrides, f"output_dir={data / 'scratch'}"]
    config = load_pretrain_config(REPO / PRETRAIN_CONFIG, overrides)
    corpus = prepare_corpus(config, prepare_tokenizer(config))
    shutil.rmtree(data / "scratch", ignore_errors=True)
    packed = {"documents_per_file": per_file, "documents": corpus.documents, "tokens": len(corpus.ids)}
    packed["bytes"] = folder_bytes(data / "packed")
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
        pretrain_step(recipe)
        pack(recipe)  # something comes back even if a later step runs out of time
        finetune_step(recipe)
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


def pretrain_step(recipe: Run) -> None:
    """Continue (or start) pretraining until ``PRETRAIN_ENDS`` of the budget."""
    start = recipe.plan["start"]
    shipped = (REPO / SHIPPED_ENCODER / "config.json").exists()
    if shipped and start["kind"] != "shipped":
        log.warning(
            "%s exists but .gpu was prepared for %s: run --prepare again", SHIPPED_ENCODER, start["kind"]
        )
    overrides = [*start["overrides"], f"output_dir={recipe.work / 'encoder'}"]
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
    record = json.loads((recipe.work / "encoder" / "pretraining.json").read_text(encoding="utf-8"))
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


def finetune_step(recipe: Run) -> None:
    """Fine-tune the new encoder on EWT train until ``FINETUNE_ENDS`` of the budget."""
    ewt = recipe.plan["ewt"]
    overrides = [
        f"train_path={ewt['train']}",
        f"dev_path={ewt['dev']}",
        f"output_dir={recipe.work / 'model'}",
        f"encoder.pretrained={recipe.work / 'encoder'}",
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
    note_gpu_minutes(recipe)


def note_gpu_minutes(recipe: Run) -> None:
    """Say in the fine-tuned model's card where and in how many minutes it was made."""
    card = recipe.work / "model" / "best" / "README.md"
    steps, pretraining, device = (
        recipe.metrics["steps"],
        recipe.metrics["pretraining"],
        recipe.metrics["device"],
    )
    minutes = (steps["pretrain"] + steps["finetune"]) / 60
    note = (
        f"\n## Made by benchmarks/gpu_run.sh\n\n{minutes:.1f} minutes on {device} (torch"
        f" {recipe.metrics['torch']}, {now()}), wall clock: {steps['pretrain'] / 60:.1f} minutes of"
        f" pretraining ({pretraining['tokens_seen']:,} tokens at {pretraining['tokens_per_second']:,}"
        f" tokens/s; {pretraining['in_all']['tokens_seen']:,} tokens in all, by the encoder's"
        f" `pretraining.json`), then {steps['finetune'] / 60:.1f} minutes of fine-tuning.\n"
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


def pack(recipe: Run) -> None:
    """The tarball under ``out``: model, encoder (its export, no checkpoints), logs, metrics; with
    ``gpu_run.log``'s copy and ``metrics.json`` beside it. Refuses to leave one over 16 MiB."""
    out, work = recipe.out, recipe.work
    out.mkdir(parents=True, exist_ok=True)
    (work / "metrics.json").write_text(json.dumps(recipe.metrics, indent=2) + "\n", encoding="utf-8")
    shutil.copy2(work / "metrics.json", out / "metrics.json")
    staging = out / f".{RESULT}.tmp"
    with tarfile.open(staging, "w:gz") as tar:
        for name in ("metrics.json", "dev_scores.json", "tag_speed.json", "logs"):
            if (work / name).exists():
                tar.add(work / name, arcname=name)
        tar.add(recipe.data / PLAN, arcname=PLAN)
        if (out / "gpu_run.log").exists():
            tar.add(out / "gpu_run.log", arcname="logs/gpu_run.log")
        if (work / "model" / "best").exists():
            tar.add(work / "model" / "best", arcname="model")
            tar.add(work / "model" / "metrics.jsonl", arcname="model-metrics.jsonl")
        if (work / "encoder" / "config.json").exists():
            for path in sorted((work / "encoder").iterdir()):
                if path.is_file():
                    tar.add(path, arcname=f"encoder/{path.name}")
    size = staging.stat().st_size
    if size > MAX_RESULT_BYTES:
        log.error(
            "%s would be %.1f MiB, over the 16 MiB a returned file may weigh: not written",
            RESULT,
            size / 2**20,
        )
        staging.unlink()
        return
    os.replace(staging, out / RESULT)
    log.info("packed %s (%.1f MiB)", out / RESULT, size / 2**20)


# ---------------------------------------------------------------------------------------------------
# The command


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--prepare", action="store_true", help="build the carry folder here, beforehand")
    action.add_argument("--dry-run", action="store_true", help="the whole recipe, tiny, on this CPU")
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        help="--prepare: continue this pretraining run's encoder when none is shipped",
    )
    parser.add_argument("--data", type=Path, help="the carry folder (default .gpu; a dry run's: WORK/data)")
    parser.add_argument("--out", type=Path, help="where the results go (default $OUT, else WORK/out)")
    parser.add_argument("--work", type=Path, help="scratch folder of the run (default /tmp/gpu-run)")
    parser.add_argument("--minutes", type=float, help="time budget (default 9; dry run 1)")
    parser.add_argument("--text-mib", type=float, default=30.0, help="--prepare: MiB of packed text")
    args = parser.parse_args()

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
    if args.prepare:
        data = inside_checkout(args.data or REPO / ".gpu")
        plan = prepare(data, args.source, args.text_mib, tiny=False)
        checkout = tracked_bytes()
        log.info(
            "carry folder %.1f MiB + checkout %.1f MiB = %.1f MiB (the limit is 64 MiB)",
            plan["bytes"] / 2**20,
            checkout / 2**20,
            (plan["bytes"] + checkout) / 2**20,
        )
        return 0 if plan["bytes"] + checkout < 64 * 2**20 else 1
    data = inside_checkout(
        args.data or (work.parent / f"{work.name}-data" if args.dry_run else REPO / ".gpu")
    )
    if args.dry_run:
        shutil.rmtree(data, ignore_errors=True)
        prepare(data, None, 0.0, tiny=True)
        os.environ["GPU_RUN_START"] = str(time.time())  # the budget is the run's, as on the GPU machine
    return run(data, out, work, args.minutes or (1.0 if args.dry_run else 9.0), args.dry_run)


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
