"""Tag raw text with the shipped model and print each predicate's (predicate, role, argument) tuples as JSON.

python examples/tag_to_json.py "The committee approved the new budget on Tuesday."
echo "President Bush nominated two judges. The Senate confirmed them." | python examples/tag_to_json.py
"""

from __future__ import annotations

import json
import sys

from albert_srl import SRLTagger


def main() -> None:
    text = " ".join(sys.argv[1:]) or sys.stdin.read()
    tagger = SRLTagger.from_pretrained()  # the shipped default model; or a directory such as runs/ewt/best
    for sentence in tagger.tag(text):
        for frame in sentence.frames:
            record = {
                "sentence": sentence.text,
                "predicate": frame.predicate.text,
                "sense": frame.predicate.sense,
                "tuples": frame.tuples(),
                # character offsets index `text`, across all of its sentences
                "spans": [(a.role, a.char_start, a.char_end) for a in frame.arguments if a.role != "V"],
            }
            print(json.dumps(record, ensure_ascii=False))


if __name__ == "__main__":
    main()
