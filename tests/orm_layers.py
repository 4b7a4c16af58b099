#!/usr/bin/env python3
"""orm_layers.py SRC_ORM_DIR — the files of src/orm/ are layers: each calls
only functions defined in the files before it in LAYERS (see orm.h). A call
from a file to a function defined in a file after it fails the test, with
the caller, the callee and the line, so that the circle this order replaced
(session, flush, relation and query calling each other) cannot come back
unnoticed."""
import os
import re
import sys

LAYERS = ["engine", "object", "event", "txn", "statement", "relation", "undo", "flush", "query",
          "session", "merge", "retry"]

DEFINITION = re.compile(r"^(?!static\b)[A-Za-z_][\w \*]*?\b((?:orm|corm)_\w+)\([^;]*$")


def code_of(text):
    """The text with comments and string literals blanked (lines kept)."""
    out = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)
    out = re.sub(r"//[^\n]*", "", out)
    return re.sub(r'"(?:\\.|[^"\\\n])*"', '""', out)


def main():
    where = sys.argv[1]
    files = sorted(f[:-2] for f in os.listdir(where) if f.endswith(".c"))
    unknown = [f for f in files if f not in LAYERS]
    if unknown:
        print(f"FAIL: {', '.join(unknown)}.c not placed in LAYERS (tests/orm_layers.py, orm.h)")
        return 1
    code = {f: code_of(open(os.path.join(where, f + ".c")).read()) for f in files}
    defined = {}
    for f in files:
        for line in code[f].split("\n"):
            m = DEFINITION.match(line)
            if m:
                defined[m.group(1)] = f
    bad = 0
    for f in files:
        for n, line in enumerate(code[f].split("\n"), 1):
            for name in re.findall(r"\b((?:orm|corm)_\w+)\(", line):
                home = defined.get(name)
                if home and home != f and LAYERS.index(home) > LAYERS.index(f):
                    print(f"FAIL: {f}.c:{n} calls {name} of {home}.c, a layer above it")
                    bad += 1
    print(f"{len(defined)} functions in {len(files)} files; {bad} calls up the layers")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
