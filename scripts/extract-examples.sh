#!/bin/sh
# extract-examples.sh OUTDIR FILE.md... — write every ```c block that starts
# with a line "// example: NAME" to OUTDIR/NAME.c and print the names, so
# that the tests compile and run the documentation's examples as written.
set -eu
out=$1
shift
mkdir -p "$out"
awk -v out="$out" '
    /^```c[ \t]*$/ { inblock = 1; name = ""; next }
    /^```/ && inblock { if (name != "") { close(file); printf "%s;", name } inblock = 0; next }
    inblock && name == "" && /^\/\/ example: / { name = $3; file = out "/" name ".c" }
    inblock && name != "" { print > file }
' "$@"
