"""The ``albert-srl`` command line: a thin layer over the Python API.

Each sub-command parses its arguments and calls one library function; heavy imports (torch,
transformers) happen inside the commands that need them, so ``convert`` and ``evaluate`` start fast.
A bad input file or config ends the command with one ``albert-srl: error: path:line: ...`` line and
exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from albert_srl import __version__
from albert_srl.errors import SRLFormatError

FORMATS = ["conll12", "conll05", "props", "conllu", "jsonl", "allennlp"]
log = logging.getLogger("albert_srl")


def cmd_convert(args: argparse.Namespace) -> int:
    from albert_srl.formats import convert

    count = convert(args.input, args.output, to=args.to, from_=args.from_)
    log.info("wrote %d sentences to %s", count, args.output)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from albert_srl import scorer

    if args.dependency:
        dep = scorer.score_dependency_files(args.gold, args.pred, args.gold_format, args.pred_format)
        sys.stdout.write(json.dumps(scorer.dependency_score_to_json(dep), indent=2) + "\n" if args.json
                         else scorer.format_dependency_report(dep))
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
    print(best)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from albert_srl.formats import detect_format, read, write
    from albert_srl.tagger import SRLTagger

    tagger = SRLTagger.from_pretrained(args.model, device=args.device)
    in_format = args.from_ or detect_format(args.input)
    tagged = tagger.tag_conll(read(args.input, in_format), progress=not args.quiet)
    write(tagged, args.output, args.to or in_format)
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from albert_srl.pretrain import main_pretrain

    return main_pretrain(args.config, args.set or [])


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

    predict = commands.add_parser("predict", help="tag a CoNLL file with its gold predicates")
    predict.add_argument("model")
    predict.add_argument("input")
    predict.add_argument("-o", "--output", default="-", help="default: stdout")
    predict.add_argument("--from", dest="from_", choices=FORMATS, help="input format (default: detected)")
    predict.add_argument("--to", choices=FORMATS, help="output format (default: the input's)")
    predict.add_argument("--device", default="auto", choices=["cpu", "cuda", "auto"])
    predict.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    predict.set_defaults(run=cmd_predict)

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
