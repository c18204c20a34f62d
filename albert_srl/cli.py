"""The ``albert-srl`` command line: a thin layer over the Python API.

Each sub-command parses its arguments and calls one library function; heavy imports (torch,
transformers) happen inside the commands that need them, so ``convert`` and ``evaluate`` start fast.
A bad input file or config ends the command with one ``albert-srl: error: path:line: ...`` line and
exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from albert_srl import __version__
from albert_srl.errors import SRLFormatError

FORMATS = ["conll12", "conll05", "props", "conllu", "jsonl", "allennlp"]
log = logging.getLogger("albert_srl")
BF16_HELP = (
    "bfloat16 autocast on the CPU too (default: on CUDA only); 2-3x faster where the CPU has AVX-512 BF16 "
    "or AMX, slower where it has not; scores change by hundredths (docs/benchmarks.md)"
)


def cmd_convert(args: argparse.Namespace) -> int:
    from albert_srl.formats import convert

    count = convert(args.input, args.output, to=args.to, from_=args.from_)
    log.info("wrote %d sentences to %s", count, args.output)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from albert_srl import scorer

    if args.dependency:
        dep = scorer.score_dependency_files(args.gold, args.pred, args.gold_format, args.pred_format)
        sys.stdout.write(
            json.dumps(scorer.dependency_score_to_json(dep), indent=2) + "\n"
            if args.json
            else scorer.format_dependency_report(dep)
        )
        return 0
    result = scorer.score_files(args.gold, args.pred, args.gold_format, args.pred_format)
    if args.json:
        sys.stdout.write(json.dumps(scorer.score_to_json(result), indent=2) + "\n")
    else:
        sys.stdout.write(scorer.format_report(result, confusion=args.confusion, latex=args.latex))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from albert_srl.config import load_config
    from albert_srl.train import train

    config = load_config(args.config, args.set or [])
    best = train(config, resume=args.resume)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one line for the whole job
        print(best)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from albert_srl.formats import detect_format, read, write
    from albert_srl.tagger import SRLTagger

    tagger = SRLTagger.from_pretrained(args.model, device=args.device, bf16=args.bf16 or None)
    in_format = args.from_ or detect_format(args.input)
    tagged = tagger.tag_conll(
        read(args.input, in_format), progress=not args.quiet, gold_predicates=not args.find_predicates
    )
    write(tagged, args.output, args.to or in_format)
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from albert_srl.formats import write
    from albert_srl.tagger import SRLTagger
    from albert_srl.text import BadLine, iter_text_file, iter_text_sentences

    if args.shard and not all(path != "-" for path in args.files or ["-"]):
        raise SRLFormatError("<stdin>", None, "--shard needs files to split, not standard input")
    tagger = SRLTagger.from_pretrained(args.model, device=args.device, bf16=args.bf16 or None)
    out_format = "conll12" if args.format == "conll" else args.format
    skipped = 0
    progress = tqdm(unit=" sentences", disable=args.quiet or not sys.stderr.isatty())
    with open_output_stream(args.output) as out:
        for path in args.files or ["-"]:
            items = (
                iter_text_sentences(sys.stdin.buffer, args.input, "<stdin>")
                if path == "-"
                else iter_text_file(path, args.input, shard=args.shard)
            )
            for item in tagger.tag_stream(items, args.batch_size, args.max_tokens, path=path):
                if isinstance(item, BadLine):
                    log.warning("%s:%d: %s; skipped", item.path, item.line, item.reason)
                    skipped += 1
                    continue
                write([item], out, out_format)
                progress.update()
            out.flush()
    progress.close()
    if skipped:
        log.warning("%d input lines or sentences were skipped", skipped)
    return 1 if skipped else 0


def cmd_serve(args: argparse.Namespace) -> int:
    from albert_srl.serve import main_serve

    return main_serve(args)


def cmd_pretrain(args: argparse.Namespace) -> int:
    from albert_srl.pretrain import main_pretrain

    return main_pretrain(args.config, args.set or [])


def parse_shard(value: str) -> tuple[int, int]:
    """``"2/8"`` -> ``(2, 8)``."""
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N such as 0/4, not {value!r}") from None
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"shard {value}: need 0 <= I < N")
    return index, count


def open_output_stream(path: str) -> Any:
    """``-`` is standard output (left open); anything else a UTF-8 file."""
    if path == "-":
        return contextlib.nullcontext(sys.stdout)
    return open(path, "w", encoding="utf-8")


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
    evaluate.add_argument(
        "--dependency", action="store_true", help="CoNLL-2009 head-word scoring (the default for CoNLL-U)"
    )
    evaluate.set_defaults(run=cmd_evaluate)

    train = commands.add_parser("train", help="train a model from a YAML config")
    train.add_argument("config")
    train.add_argument("--set", nargs="+", metavar="KEY=VALUE", help="override config keys (dotted)")
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    train.set_defaults(run=cmd_train)

    predict = commands.add_parser(
        "predict", help="tag a CoNLL file with its gold predicates, writing the same format"
    )
    predict.add_argument("model", nargs="?", help="model directory or hub id (default: the shipped model)")
    predict.add_argument("input")
    predict.add_argument("-o", "--output", default="-", help="default: stdout")
    predict.add_argument("--from", dest="from_", choices=FORMATS, help="input format (default: detected)")
    predict.add_argument("--to", choices=FORMATS, help="output format (default: the input's)")
    predict.add_argument("--device", default="auto", choices=["cpu", "cuda", "auto"])
    predict.add_argument("--bf16", action="store_true", help=BF16_HELP)
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
    tag.add_argument("--format", default="text", choices=["text", "jsonl", "conll", "allennlp"])
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
    tag.add_argument("--batch-size", type=int, default=64, help="sentences tagged together (default 64)")
    tag.add_argument("--max-tokens", type=int, default=8192, help="subwords in one forward pass")
    tag.add_argument("--device", default="auto", choices=["cpu", "cuda", "auto"])
    tag.add_argument("--bf16", action="store_true", help=BF16_HELP)
    tag.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    tag.set_defaults(run=cmd_tag)

    serve = commands.add_parser("serve", help="serve a model over HTTP (API + demo page)")
    serve.add_argument("--model", help="model directory (default: the shipped model)")
    serve.add_argument("--host", default="127.0.0.1", help="default: loopback only")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--device", default="auto", choices=["cpu", "cuda", "auto"])
    serve.add_argument("--bf16", action="store_true", help=BF16_HELP)
    serve.add_argument("--max-body-bytes", type=int, default=1_000_000)
    serve.add_argument("--max-sentences", type=int, default=128, help="per request")
    serve.add_argument("--max-words", type=int, default=256, help="per sentence")
    serve.add_argument("--max-text-chars", type=int, default=100_000)
    serve.add_argument("--batch-wait-ms", type=float, default=5.0)
    serve.add_argument("--batch-words", type=int, default=8192)
    serve.set_defaults(run=cmd_serve)

    pretrain = commands.add_parser("pretrain", help="pretrain an ALBERT encoder (MLM + SOP)")
    pretrain.add_argument("config")
    pretrain.add_argument("--set", nargs="+", metavar="KEY=VALUE", help="override config keys (dotted)")
    pretrain.set_defaults(run=cmd_pretrain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.run(args)
    except SRLFormatError as error:
        print(f"albert-srl: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if isinstance(error, BrokenPipeError):
            return 0
        print(f"albert-srl: error: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
