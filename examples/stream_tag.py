"""Tag a large text file as a stream, with a progress bar, writing one JSON line a sentence.

    python examples/stream_tag.py corpus.txt.gz tagged.jsonl [MODEL_DIR]

Paragraphs (separated by blank lines) are read one at a time and tagged 64 sentences a batch, so memory
stays flat however large the file is; a line that cannot be read (bad UTF-8, control characters) is
reported with its line number and skipped. `albert-srl tag corpus.txt --format jsonl -o tagged.jsonl`
does the same from the shell, and `--shard I/N` splits the file across processes or machines.
"""

from __future__ import annotations

import logging
import sys

from tqdm import tqdm

from albert_srl import SRLTagger, write
from albert_srl.tagging.text import BadLine, iter_text_file


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    source, target = sys.argv[1], sys.argv[2]
    tagger = SRLTagger.from_pretrained(sys.argv[3] if len(sys.argv) > 3 else None)
    items = iter_text_file(source, mode="text")  # "lines": one sentence a line; "tokenized": words given
    tagged = skipped = 0
    with open(target, "w", encoding="utf-8") as out, tqdm(unit=" sentences", disable=None) as bar:
        for item in tagger.tag_stream(items, batch_size=64, path=source):
            if isinstance(item, BadLine):
                logging.warning("%s:%d: %s; skipped", item.path, item.line, item.reason)
                skipped += 1
                continue
            write([item], out, "jsonl")
            tagged += 1
            bar.update()
    logging.info("tagged %d sentences into %s, skipped %d lines", tagged, target, skipped)


if __name__ == "__main__":
    main()
