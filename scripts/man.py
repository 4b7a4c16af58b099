#!/usr/bin/env python3
"""man.py OUTDIR HEADER... | --check HEADER...

The section 3 manual of corm's public API, from the comments of its
headers, as SQLite and curl publish theirs: a page for each group of
declarations that share a comment (a function, or a macro with the
function behind it: corm_get and corm_get_), named after its first member,
and a one-line page (.so) for each other member. --check lists the public
functions and macros that no comment documents and fails if there is one.

A comment documents the declarations that follow it up to a blank line;
a section comment ("/* ---- name ----") those that follow it at once, with
the words after its title.
"""
import os
import re
import sys

VERSION = "0.1.0"
FUNC = re.compile(r'\b(corm_\w+)\s*\(')
MACRO = re.compile(r'#\s*define\s+((?:corm|CORM)_\w+)\(')


def groups(path):
    """(comment, [declaration text], [names]) for each group of the header."""
    lines = open(path).read().split('\n')
    out, comment, decls, names = [], None, [], []

    def close():
        nonlocal comment, decls, names
        if names:
            out.append((comment, decls, names))
        comment, decls, names = None, [], []

    i = 0
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        if not s:
            close()
            i += 1
            continue
        if s.startswith('/*'):
            text = [s]
            while '*/' not in text[-1] and i + 1 < len(lines):
                i += 1
                text.append(lines[i].strip())
            i += 1
            if names:  # a comment after declarations starts a new group
                close()
            body = clean(text)
            if body.startswith('----'):  # a section: its words after the title, if any
                body = body.split('\n', 1)[1].strip() if '\n' in body else ''
                comment = body or None
            else:
                comment = comment + '\n' + body if comment else body
            continue
        if s.startswith(('extern "C"', '}')) or s in ('{',):
            i += 1  # the C++ guard's lines
            continue
        # a declaration: to its ';', or a #define with its continuations
        text = [line]
        if s.startswith('#'):
            while text[-1].rstrip().endswith('\\') and i + 1 < len(lines):
                i += 1
                text.append(lines[i])
        else:
            depth = 0
            while True:
                depth += text[-1].count('{') - text[-1].count('}')
                code = re.sub(r'/\*.*?\*/', '', text[-1]).rstrip()
                if (code.endswith(';') and depth <= 0) or i + 1 >= len(lines):
                    break
                i += 1
                text.append(lines[i])
        i += 1
        decl = '\n'.join(text)
        name = None
        if s.startswith('#'):
            m = MACRO.match(s)
            if m and not m.group(1).startswith('CORM__'):
                name = m.group(1)
        elif not s.startswith(('typedef', 'extern "C"', '}', 'struct', 'enum', 'union')):
            m = FUNC.search(decl)
            if m:
                name = m.group(1)
        if name:
            decls.append(decl)
            names.append(name)
    close()
    return out


def clean(text):
    """A comment's words, without its /* * */ marks."""
    body = []
    for t in text:
        t = re.sub(r'^/\*+', '', t)
        t = re.sub(r'\*+/$', '', t)
        t = re.sub(r'^\*\s?', '', t)
        body.append(t.rstrip())
    return '\n'.join(body).strip()


def roff(text):
    out = []
    for para in text.split('\n'):
        para = para.replace('\\', '\\e')
        if para.startswith(('.', "'")):
            para = '\\&' + para
        out.append(para if para.strip() else '.PP')
    return '\n'.join(out)


def page(header, comment, decls, names):
    main = next((n for n in names if not n.endswith('_')), names[0])
    first = re.split(r'(?<=[.])\s', comment.replace('\n', ' '), 1)[0]
    return main, '\n'.join([
        '.TH %s 3 "" "corm %s" "corm manual"' % (main.upper(), VERSION),
        '.SH NAME',
        '%s \\- %s' % (', '.join(names), roff(first).replace('\n', ' ')),
        '.SH SYNOPSIS',
        '.nf',
        '.B #include <corm/%s>' % os.path.basename(header),
        '.PP',
        roff('\n'.join(decls)),
        '.fi',
        '.SH DESCRIPTION',
        roff(comment),
        '.SH SEE ALSO',
        '.BR corm_engine_open (3),',
        '.BR corm_session_new (3),',
        '.BR corm_query_new (3)',
        '']) + '\n'


def main(argv):
    if len(argv) > 1 and argv[1] == '--check':
        missing = [(h, n) for h in argv[2:] for c, _, ns in groups(h) if not c for n in ns]
        for h, n in missing:
            print('%s: %s has no comment' % (h, n))
        total = sum(len(ns) for h in argv[2:] for _, _, ns in groups(h))
        print('%d public functions and macros, %d without a comment' % (total, len(missing)))
        return 1 if missing else 0
    outdir = argv[1]
    os.makedirs(outdir, exist_ok=True)
    pages = 0
    for h in argv[2:]:
        for comment, decls, names in groups(h):
            if not comment:
                continue
            main_name, text = page(h, comment, decls, names)
            with open(os.path.join(outdir, main_name + '.3'), 'w') as f:
                f.write(text)
            pages += 1
            for n in names:
                if n != main_name:
                    with open(os.path.join(outdir, n + '.3'), 'w') as f:
                        f.write('.so man3/%s.3\n' % main_name)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
