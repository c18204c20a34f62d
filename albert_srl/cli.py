"""The ``albert-srl`` command line: a thin layer over the Python API.

Each sub-command parses its arguments and calls one library function; heavy imports (torch,
transformers) happen inside the commands that need them, so ``convert`` and ``evaluate`` start fast.
A bad input file or config ends the command with one ``albert-srl: error: path:line: ...`` line and
exit code 2, never a traceback; a training run that diverges ends with one such line and exit code 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from albert_srl import __version__
from albert_srl.config import LabelOptions, RunConfig, ServeAddress, TagOptions, TuneOptions
from albert_srl.errors import SRLFormatError, TrainingDiverged
from albert_srl.formats import READERS
from albert_srl.serving.batching import ServeLimits
from albert_srl.settings import Setting, setting_of, settings_of

FORMATS = list(READERS)
log = logging.getLogger("albert_srl")
MAX_MINUTES_HELP = (
    "wall-clock budget: stop cleanly after M minutes with the last checkpoint written and the output "
    "directory complete (config key max_minutes; --resume goes on)"
)
# The figures behind these choices live in docs/benchmarks.md (one home each), not in the help.
BF16_HELP = (
    "bfloat16 autocast on the CPU too (default: on CUDA only); faster where the CPU has AVX-512 BF16 "
    "or AMX, slower where it has not; scores change by hundredths (docs/benchmarks.md)"
)
INT8_HELP = (
    "int8 encoder on the CPU: its per-predicate linear layers quantized after loading; faster, for a "
    "fraction of a dev F1 point (docs/benchmarks.md, 'int8 on the CPU'); not with --bf16"
)


def cmd_convert(args: argparse.Namespace) -> int:
    from albert_srl.formats import convert

    count = convert(args.input, args.output, to=args.to, from_=args.from_)
    log.info("wrote %d sentences to %s", count, args.output)
    return 0


def cmd_convert_encoder(args: argparse.Namespace) -> int:
    from albert_srl.conversion import convert_encoder

    done = convert_encoder(args.source, args.output, args.embedding_size, args.sha256, force=args.force)
    print(done.directory)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from albert_srl import scorer

    result = scorer.evaluate_files(
        args.gold, args.pred, args.gold_format, args.pred_format, dependency=args.dependency
    )
    if isinstance(result, scorer.DependencyScore):
        data, report = scorer.dependency_score_to_json(result), scorer.format_dependency_report(result)
    else:
        data, report = scorer.score_to_json(result), scorer.format_report(result, args.confusion, args.latex)
    sys.stdout.write(json.dumps(data, indent=2) + "\n" if args.json else report)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from albert_srl.config import load_config
    from albert_srl.training import train

    config = load_config(args.config, with_max_minutes(args))
    best = train(config, resume=args.resume)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one line for the whole job
        print(best)
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from albert_srl.tuning import tune

    result = tune(
        args.config,
        args.space,
        args.trials,
        **given(args, "output"),
        **given(args, "storage", "pruner", "max_minutes"),
        **({"study_name": args.study} if args.study is not None else {}),
        **({"objectives": args.objectives.split(",")} if args.objectives is not None else {}),
        **({"heartbeat_seconds": args.heartbeat} if args.heartbeat is not None else {}),
        overrides=args.set or [],
        progress=not args.quiet,
    )
    print(
        f"study {result.study_name}: {result.trials} trials ({result.completed} completed, "
        f"{result.pruned} pruned, {result.failed} failed)"
    )
    if result.best_values is not None:
        scores = ", ".join(f"{name} {value:.2f}" for name, value in result.best_values.items())
        print(f"best trial {result.best_number}: {scores}")
        print(f"best config: {result.best_config}")
    print(f"report: {result.report}")
    if args.trials and result.trials and result.completed == 0:  # the study, run on, gave no model
        failed, pruned = result.failed, result.pruned
        log.error("no trial completed (%d failed, %d pruned): see each trial's error above", failed, pruned)
        return 1
    return 0


def report_skipped(error: SRLFormatError, skipped: list[SRLFormatError]) -> None:
    log.warning("%s; skipped", error)
    skipped.append(error)


def cmd_predict(args: argparse.Namespace) -> int:
    from albert_srl.files import refuse_input_as_output
    from albert_srl.formats import detect_format, read, write
    from albert_srl.tagging.tagger import SRLTagger

    refuse_input_as_output(args.output, [args.input])
    tagger = SRLTagger.from_pretrained(args.model, device=args.device, bf16=args.bf16 or None, int8=args.int8)
    in_format = args.from_ or detect_format(args.input)
    skipped: list[SRLFormatError] = []
    sentences = read(args.input, in_format, on_error=lambda error: report_skipped(error, skipped))
    tagged = tagger.tag_conll(sentences, progress=not args.quiet, gold_predicates=not args.find_predicates)
    write(tagged, args.output, args.to or in_format)
    if skipped:
        log.warning("%d bad sentences were skipped", len(skipped))
    return 1 if skipped else 0


def cmd_tag(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from albert_srl.files import open_output, refuse_input_as_output
    from albert_srl.formats import sentence_writer
    from albert_srl.tagging.tagger import SRLTagger
    from albert_srl.tagging.text import BadLine, iter_text_file, iter_text_sentences

    files = args.files or ["-"]
    if args.shard and "-" in files:
        raise SRLFormatError("<stdin>", None, "--shard needs files to split, not standard input")
    refuse_input_as_output(args.output, files)
    options = TagOptions(**given(args, *(s.name for s in settings_of(TagOptions))))
    tagger = SRLTagger.from_pretrained(args.model, device=args.device, bf16=args.bf16 or None, int8=args.int8)
    out_format = "conll12" if args.format == "conll" else args.format
    skipped, failed = 0, 0
    progress = tqdm(unit=" sentences", disable=args.quiet or not sys.stderr.isatty())
    with open_output(args.output) as out, sentence_writer(out, out_format) as write_sentence:
        for path in files:
            items = (
                iter_text_sentences(sys.stdin.buffer, args.input, "<stdin>")
                if path == "-"
                else iter_text_file(path, args.input, shard=args.shard)
            )
            try:
                tagged = tagger.tag_stream(
                    items, options.batch_size, options.max_tokens, path, options.max_words
                )
                for item in tagged:
                    if isinstance(item, BadLine):
                        log.warning("%s:%d: %s; skipped", item.path, item.line, item.reason)
                        skipped += 1
                        continue
                    write_sentence(item)
                    progress.update()
            except (SRLFormatError, OSError) as error:  # this file is unusable: report it, tag the next
                if isinstance(error, BrokenPipeError):
                    raise
                print(f"albert-srl: error: {describe_error(error)}", file=sys.stderr)
                failed += 1
            out.flush()
    progress.close()
    if skipped:
        log.warning("%d input lines or sentences were skipped", skipped)
    return 2 if failed else 1 if skipped else 0


def cmd_label(args: argparse.Namespace) -> int:
    from albert_srl.tagging.label import check_run, label
    from albert_srl.tagging.tagger import SRLTagger

    check_run(args.files, args.output, args.resume)  # before a model loads for minutes
    options = LabelOptions(**given(args, *(s.name for s in settings_of(LabelOptions))))
    tagger = SRLTagger.from_pretrained(args.model, device=args.device, bf16=args.bf16 or None, int8=args.int8)
    progress = not args.quiet and sys.stderr.isatty()
    done = label(tagger, args.files, args.output, options, args.resume, progress)
    left_out = f"{done.too_long:,} over {options.max_words} words"
    if options.min_confidence is not None:
        left_out = f"{done.below_confidence:,} below confidence {options.min_confidence:g}, {left_out}"
    print(
        f"{args.output}: {done.documents:,} documents, {done.sentences:,} sentences with {done.frames:,} "
        f"frames written; left out: {left_out}"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from albert_srl.serving.serve import serve

    limits = ServeLimits(**given(args, *(s.name for s in settings_of(ServeLimits))))
    address = ServeAddress(**given(args, "host", "port"))
    serve(
        args.model,
        address.host,
        address.port,
        limits,
        device=args.device,
        bf16=args.bf16 or None,
        int8=args.int8,
    )
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from albert_srl.config import load_pretrain_config
    from albert_srl.pretraining import pretrain, pretrain_embeddings

    config = load_pretrain_config(args.config, with_max_minutes(args))
    print(pretrain_embeddings(config) if args.stage == "embeddings" else pretrain(config, resume=True))
    return 0


def with_max_minutes(args: argparse.Namespace) -> list[str]:
    """``--set`` overrides with ``--max-minutes`` last: the config's own checks see it."""
    extra = [] if args.max_minutes is None else [f"max_minutes={args.max_minutes!r}"]
    return [*(args.set or []), *extra]


def given(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The flags among ``names`` given on the command line (an unset flag is ``None``): the declared
    defaults fill in the rest."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def add_setting(parser: argparse.ArgumentParser, cls: type, key: str, *flags: str, **kwargs: Any) -> None:
    """A flag for the setting ``key`` declared in ``cls``: parsed and checked by the schema (a bad value is
    argparse's one-line error, exit 2), its help the setting's doc and default. An unset flag is ``None``.
    """
    declared = setting_of(cls, key)
    names = flags or (f"--{declared.name.replace('_', '-')}",)
    notes = [] if declared.required or declared.default is None else [f"default {declared.default}"]
    notes += [declared.range_text()] if declared.range_text() else []
    kwargs.setdefault("help", declared.doc + (f" ({'; '.join(notes)})" if notes else ""))
    if declared.choices:
        kwargs.setdefault("choices", declared.choices)
    else:
        kwargs.setdefault("type", flag_type(declared))
    parser.add_argument(*names, required=declared.required, **kwargs)


def flag_type(declared: Setting) -> Any:
    def parse(text: str) -> Any:
        try:
            return declared.parse(text, "")
        except SRLFormatError as error:
            raise argparse.ArgumentTypeError(error.message) from None

    parse.__name__ = declared.name  # argparse's "invalid <name> value" wording
    return parse


def add_precision_flags(parser: argparse.ArgumentParser) -> None:
    """``--bf16`` and ``--int8``, which do not combine: given together they are argparse's one error."""
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--bf16", action="store_true", help=BF16_HELP)
    precision.add_argument("--int8", action="store_true", help=INT8_HELP)


def parse_shard(value: str) -> tuple[int, int]:
    """``"2/8"`` -> ``(2, 8)``."""
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N such as 0/4, not {value!r}") from None
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"shard {value}: need 0 <= I < N")
    return index, count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="albert-srl", description="PropBank semantic role labelling.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    convert = commands.add_parser("convert", help="convert an SRL file between formats")
    convert.add_argument("input")
    convert.add_argument("output", help="output file, '-' for stdout")
    convert.add_argument("--to", choices=FORMATS, required=True)
    convert.add_argument("--from", dest="from_", choices=FORMATS, help="input format (default: detected)")
    convert.set_defaults(run=cmd_convert)

    evaluate = commands.add_parser(
        "evaluate",
        help="score predicted against gold SRL, as srl-eval.pl does",
        description="Score PRED against GOLD exactly as the CoNLL-2005 srl-eval.pl does. Any pair of the "
        "supported formats is accepted; srl-eval.pl's own flags -C and -latex work too.",
    )
    evaluate.add_argument("gold")
    evaluate.add_argument("pred")
    evaluate.add_argument("-C", "--confusion", action="store_true", help="print the confusion matrix")
    evaluate.add_argument("-latex", "--latex", action="store_true", help="print the table as LaTeX")
    evaluate.add_argument("--json", action="store_true", help="print the scores as JSON")
    evaluate.add_argument("--gold-format", choices=FORMATS, help="default: detected")
    evaluate.add_argument("--pred-format", choices=FORMATS, help="default: detected")
    scoring = evaluate.add_mutually_exclusive_group()
    scoring.add_argument(
        "--dependency",
        action="store_const",
        const=True,
        help="CoNLL-2009 head-word scoring (the default when GOLD is dependency-based: CoNLL-U PropBank)",
    )
    scoring.add_argument(
        "--spans",
        dest="dependency",
        action="store_const",
        const=False,
        help="srl-eval.pl span scoring (the default for every other GOLD)",
    )
    evaluate.set_defaults(run=cmd_evaluate)

    train = commands.add_parser("train", help="train a model from a YAML config")
    train.add_argument("config")
    train.add_argument("--set", nargs="+", metavar="KEY=VALUE", help="override config keys (dotted)")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    add_setting(train, RunConfig, "max_minutes", metavar="M", help=MAX_MINUTES_HELP)
    train.set_defaults(run=cmd_train)

    tune = commands.add_parser(
        "tune",
        help="search hyperparameters with Optuna (docs/tuning.md)",
        description="Run TRIALS more trials of a study: each an `albert-srl train` run of CONFIG with values "
        "drawn from the search space SPACE. Running the command again adds trials to the same study; workers "
        "on many machines share one with --storage. Writes best.yaml, trials.csv, report.html and the best "
        "model (best/) into --output.",
    )
    tune.add_argument("config", help="the base training config")
    tune.add_argument("--space", required=True, help="search space YAML (configs/tune-ewt.yaml)")
    for name in ("trials", "output", "storage", "study", "objectives", "pruner", "max_minutes"):
        add_setting(tune, TuneOptions, name)
    add_setting(tune, TuneOptions, "heartbeat", metavar="SECONDS")
    tune.add_argument("--set", nargs="+", metavar="KEY=VALUE", help="override base config keys (dotted)")
    tune.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    tune.set_defaults(run=cmd_tune)

    predict = commands.add_parser(
        "predict", help="tag a CoNLL file with its gold predicates, writing the same format"
    )
    predict.add_argument("model", nargs="?", help="model directory or hub id (default: the shipped model)")
    predict.add_argument("input")
    predict.add_argument("-o", "--output", default="-", help="default: stdout")
    predict.add_argument("--from", dest="from_", choices=FORMATS, help="input format (default: detected)")
    predict.add_argument("--to", choices=FORMATS, help="output format (default: the input's)")
    add_setting(predict, RunConfig, "device")
    add_precision_flags(predict)
    predict.add_argument(
        "--find-predicates",
        action="store_true",
        help="ignore the file's predicates and tag those the model finds (end-to-end scoring)",
    )
    predict.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    predict.set_defaults(run=cmd_predict)

    tag = commands.add_parser(
        "tag",
        help="tag raw text: sentences in, frames out",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Tag raw text with the model's own predicate identification, and print the frames.\n\n"
        "Input (--input): 'text' = running text, paragraphs separated by blank lines (default); 'lines' =\n"
        "one sentence a line; 'tokenized' = one sentence a line, words separated by spaces. In tokenized\n"
        "input you may mark the predicates yourself by writing a word in square brackets, e.g.\n"
        "  The board [approved] the plan .\n"
        "then only the marked words are tagged as predicates in that sentence.\n\n"
        "Exit status: 0 when every line was tagged, 1 when some line was skipped (each is reported on\n"
        "stderr as FILE:LINE), 2 on an unusable model or file.",
    )
    tag.add_argument("files", nargs="*", metavar="FILE", help="text files (.gz too); none or '-' = stdin")
    tag.add_argument("-o", "--output", default="-", help="default: stdout")
    tag.add_argument("--format", default="text", choices=["text", "jsonl", "conll", "allennlp", "html"])
    tag.add_argument("--input", default="text", choices=["text", "lines", "tokenized"])
    tag.add_argument(
        "--tokenized", dest="input", action="store_const", const="tokenized", help="same as --input tokenized"
    )
    tag.add_argument(
        "--shard",
        type=parse_shard,
        metavar="I/N",
        help="tag only shard I of N (0 <= I < N) of each file: N processes or machines split a corpus "
        "with no coordination, and their outputs concatenated in shard order are in input order",
    )
    tag.add_argument("--model", help="model directory or hub id (default: the shipped model)")
    for name in ("batch_size", "max_tokens", "max_words"):
        add_setting(tag, TagOptions, name)
    add_setting(tag, RunConfig, "device")
    add_precision_flags(tag)
    tag.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    tag.set_defaults(run=cmd_tag)

    label = commands.add_parser(
        "label",
        help="label raw text with a model: silver training data (docs/silver.md)",
        description="Tag the documents of text files end to end (the model finds the predicates) and write "
        "their frames as training data: CoNLL-2012, or JSON lines with each frame's probability. Documents "
        "are blank-line-separated blocks, a paragraph a line, kept whole and in order. The run streams, "
        "records its progress in OUTPUT.progress.json, and --resume goes on where a killed run stopped.",
    )
    label.add_argument("files", nargs="+", metavar="FILE", help="text files (.gz too)")
    label.add_argument("-o", "--output", required=True, help="the silver file to write (.gz: gzip)")
    label.add_argument("--model", help="model directory or hub id (default: the shipped model)")
    add_setting(label, LabelOptions, "format")
    add_setting(label, LabelOptions, "min_confidence", metavar="P")
    for name in ("max_documents", "max_sentences", "batch_documents", "max_tokens", "max_words"):
        add_setting(label, LabelOptions, name, metavar="N")
    title = setting_of(LabelOptions, "title_lines")
    label.add_argument("--title-lines", action="store_true", default=None, help=title.doc)
    label.add_argument("--resume", action="store_true", help="go on from OUTPUT.progress.json")
    add_setting(label, RunConfig, "device")
    add_precision_flags(label)
    label.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    label.set_defaults(run=cmd_label)

    serve = commands.add_parser("serve", help="serve a model over HTTP (API + demo page)")
    serve.add_argument("--model", help="model directory (default: the shipped model)")
    add_setting(serve, ServeAddress, "host")
    add_setting(serve, ServeAddress, "port")
    add_setting(serve, RunConfig, "device")
    add_precision_flags(serve)
    for limit in settings_of(ServeLimits):  # every limit is a flag of the same name
        add_setting(serve, ServeLimits, limit.key)
    serve.set_defaults(run=cmd_serve)

    pretrain = commands.add_parser("pretrain", help="pretrain an ALBERT encoder (MLM + SOP)")
    pretrain.add_argument("config")
    pretrain.add_argument("--set", nargs="+", metavar="KEY=VALUE", help="override config keys (dotted)")
    add_setting(pretrain, RunConfig, "max_minutes", metavar="M", help=MAX_MINUTES_HELP)
    pretrain.add_argument(
        "--stage",
        choices=["mlm", "embeddings"],
        default="mlm",
        help="mlm: masked-LM + sentence-order pretraining (default); embeddings: word2vec subword vectors"
        " written into a fresh encoder's embedding (minutes on a CPU)",
    )
    pretrain.set_defaults(run=cmd_pretrain)

    convert_encoder = commands.add_parser(
        "convert-encoder", help="convert a BERT encoder directory into an ALBERT one (safetensors only)"
    )
    convert_encoder.add_argument(
        "source", help="a BERT encoder directory: config.json, model.safetensors, tokenizer"
    )
    convert_encoder.add_argument("output", help="the ALBERT encoder directory to write")
    convert_encoder.add_argument(
        "--embedding-size",
        type=int,
        metavar="E",
        help="factorized embedding size (default: the hidden size, which converts exactly)",
    )
    convert_encoder.add_argument("--sha256", metavar="HEX", help="the digest model.safetensors must have")
    convert_encoder.add_argument(
        "--force",
        action="store_true",
        help="replace a non-empty OUTPUT whole (never the source, nor a directory holding it)",
    )
    convert_encoder.set_defaults(run=cmd_convert_encoder)
    return parser


def describe_error(error: SRLFormatError | OSError) -> str:
    """``path:line: message`` for a bad file, ``path: reason`` for one the system cannot open."""
    if isinstance(error, SRLFormatError):
        return str(error)
    return f"{error.filename or ''}: {error.strerror or error}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.INFO
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 speaks for the job
        level = logging.ERROR
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except (SRLFormatError, OSError) as error:
        if isinstance(error, BrokenPipeError):
            return 0
        print(f"albert-srl: error: {describe_error(error)}", file=sys.stderr)
        return 2
    except TrainingDiverged as error:  # the input was fine; the run was not
        print(f"albert-srl: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
