#!/usr/bin/env python3
"""Carry every mutant across a mechanical reformatting of ref/src.

    python3 conformance/mutants/reformat.py [--check] [--clang-format clang-format]

For each mutant: apply it to its file as it is now (F -> M), format both with
the repository's .clang-format (F' and M'), and rewrite the mutant's hunks as
the line difference F' -> M', each widened with context lines until its
original text occurs exactly once in F'.  Applying the new hunks to F' gives
M' exactly (checked for every mutant before anything is written), so each
mutant is the same bug in the reformatted file.  Run it BEFORE formatting
ref/src itself (it reads the unformatted files); `--check` only reports.
"""
import argparse
import difflib
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from mutate import parse_mutant, MutantError  # noqa: E402


def fmt(text, name, exe):
    """text formatted as ref/src/<name> would be."""
    r = subprocess.run([exe, f'--assume-filename={os.path.join(ROOT, "ref", "src", name)}'],
                       input=text, capture_output=True, text=True, cwd=ROOT, check=False)
    if r.returncode != 0:
        raise MutantError(f'{exe} failed on {name}: {r.stderr.strip()[:200]}')
    return r.stdout


def hunks_between(before, after):
    """Hunks (orig, repl) turning `before` into `after`, applied in order as
    mutate.py does; changes whose context would overlap share one hunk."""
    a, b = before.split('\n'), after.split('\n')
    ops = [o for o in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
           if o[0] != 'equal']
    out, k, floor = [], 0, 0
    while k < len(ops):
        last = k
        for ctx in range(0, 40):
            lo = max(floor, ops[k][1] - ctx)
            hi = min(len(a), ops[last][2] + ctx)
            while last + 1 < len(ops) and ops[last + 1][1] <= hi:
                last += 1
                hi = min(len(a), ops[last][2] + ctx)
            orig = '\n'.join(a[lo:hi])
            repl = a[lo:ops[k][1]] + b[ops[k][3]:ops[last][4]] + a[ops[last][2]:hi]
            # Whole lines on both sides: a hunk deleting every line it names
            # would leave its line break behind.
            if repl and hi > lo and orig.strip() and before.count(orig) == 1:
                out.append((orig, '\n'.join(repl)))
                break
        else:
            raise MutantError(f'no unique context for the change at line {ops[k][1] + 1}')
        k, floor = last + 1, hi
    return out


def applies(text, hunks):
    """text with hunks applied as mutate.py does, or None when one is stale."""
    for orig, repl in hunks:
        if text.count(orig) != 1:
            return None
        text = text.replace(orig, repl, 1)
    return text


def render(path, hunks):
    """The mutant file's header as it is, followed by the new hunks."""
    text = open(path, encoding='utf-8').read()
    head = text[:text.index('<<<<<<< original')]
    body = ''.join(f'<<<<<<< original\n{o}\n=======\n{r}\n>>>>>>> mutant\n' for o, r in hunks)
    return head + body


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--check', action='store_true', help='report only, write nothing')
    p.add_argument('--clang-format', default='clang-format')
    a = p.parse_args()
    new, total = {}, 0
    formatted = {}
    for path in sorted(glob.glob(os.path.join(HERE, '*.mut'))):
        m = parse_mutant(path)
        total += 1
        src = open(os.path.join(ROOT, 'ref', 'src', m['file']), encoding='utf-8').read()
        mutated = src
        for orig, repl in m['hunks']:
            if mutated.count(orig) != 1:
                raise MutantError(f'{path}: stale before reformatting')
            mutated = mutated.replace(orig, repl, 1)
        if m['file'] not in formatted:
            formatted[m['file']] = fmt(src, m['file'], a.clang_format)
        f2, m2 = formatted[m['file']], fmt(mutated, m['file'], a.clang_format)
        if f2 == m2:
            raise MutantError(f'{path}: the mutant vanishes when formatted')
        if applies(f2, m['hunks']) == m2:
            continue  # the hunks as written still make the same mutant
        hunks = hunks_between(f2, m2)
        if applies(f2, hunks) != m2:
            raise MutantError(f'{path}: rewritten hunks do not reproduce the mutant')
        new[path] = render(path, hunks)
    changed = [p for p, t in new.items() if open(p, encoding='utf-8').read() != t]
    print(f'reformat: {total} mutants, {len(changed)} rewritten')
    if not a.check:
        for p in changed:
            open(p, 'w', encoding='utf-8').write(new[p])
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except MutantError as e:
        print(f'reformat: {e}', file=sys.stderr)
        sys.exit(2)
