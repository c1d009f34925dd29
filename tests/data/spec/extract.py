#!/usr/bin/env python3
"""Regenerates tests/data/spec/<version>/NN-command.stomp from the STOMP spec markdown.

Run by hand (never by the tests):  python3 tests/data/spec/extract.py /path/to/spec-dir

An example is an indented block (4 or more spaces, as markdown code) whose first
non-blank line is an upper-case word: a command, or the `COMMAND` placeholder of the
"frame structure" illustration. The BNF blocks and the table of contents are skipped.
The common indentation and the leading blank lines are removed, lines are joined with
LF, and `^@` becomes a real NUL octet. A block that has no `^@` (a fragment) keeps a
final LF after its last line. Trailing spaces inside lines are kept: they are data.
"""
import os
import re
import sys

SPECS = {"1.0": "stomp-1.0.md", "1.1": "stomp-1.1.md", "1.2": "stomp-1.2.md"}


def blocks(lines):
    block, start = [], None
    for no, line in enumerate(lines, 1):
        if line.startswith("    ") or (block and line.strip() == "" and line != ""):
            if not block:
                start = no
            block.append(line)
        else:
            if block:
                yield start, block
            block = []
    if block:
        yield start, block


def main(spec_dir):
    here = os.path.dirname(os.path.abspath(__file__))
    for version, name in SPECS.items():
        with open(os.path.join(spec_dir, name), encoding="utf-8") as f:
            lines = f.read().split("\n")
        out_dir = os.path.join(here, version)
        os.makedirs(out_dir, exist_ok=True)
        for old in os.listdir(out_dir):
            if old.endswith(".stomp"):
                os.remove(os.path.join(out_dir, old))
        n = 0
        for start, block in blocks(lines):
            content = [l for l in block]
            while content and content[0].strip() == "":
                content.pop(0)
                start += 1
            while content and content[-1].strip() == "":
                content.pop()
            if not content or not re.fullmatch(r"[A-Z]+", content[0].strip()):
                continue
            indent = len(content[0]) - len(content[0].lstrip(" "))
            text = "\n".join(l[indent:] for l in content)
            if "^@" in text:
                assert text.endswith("^@"), (version, start)
                data = text.replace("^@", "\0").encode()
            else:
                data = (text + "\n").encode()
            n += 1
            command = content[0].strip().lower()
            path = os.path.join(out_dir, f"{n:02}-{command}.stomp")
            with open(path, "wb") as f:
                f.write(data)
            print(f"{version}/{n:02}-{command}.stomp  {name}:{start}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
