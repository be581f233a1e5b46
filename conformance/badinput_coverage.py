#!/usr/bin/env python3
"""Bad-input coverage: every public function of ref/include/mp.h is swept by
a table of conformance/tests/test_badinput.c, or exempt here with a reason.

A function counts as swept when a table entry names it:
    X("mp_queue_put", MP_EINVAL, mp_queue_put(NULL, c->v, 0))
    BX("mp_queue_free", (mp_queue_free(NULL), true))
(the test itself checks that each entry's expression calls the function it
names).  Public functions are the MP_EXTERN declarations and the static
inline wrappers of mp.h.

Exit 1, listing them, when a function is neither swept nor exempt, or when an
exemption names a function that no longer exists or is swept anyway.

  badinput_coverage.py [--header mp.h] [--tests test_badinput.c] [--list]
"""
import argparse, os, re, sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Calls that cannot be given bad input: one line of reason each.
EXEMPT = {
    'mp_errmsg': 'no arguments',
    'mp_current_name': 'no arguments',
    'mp_current_pid': 'no arguments',
    'mp_parent_pid': 'no arguments',
    'mp_cpu_count': 'no arguments',
    'mp_none': 'no arguments',
    'mp_list': 'no arguments',
    'mp_tuple': 'no arguments',
    'mp_dict': 'no arguments',
    'mp_bool': 'any bool is valid input',
    'mp_int': 'any int64_t is valid input',
    'mp_float': 'any double (NaN and infinities too) is a valid Python float',
}


def public_functions(header):
    text = open(header).read()
    text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
    text = re.sub(r'//[^\n]*', ' ', text)
    names = re.findall(r'\bMP_EXTERN\b[^;{]*?\b(mp_\w+)\s*\(', text)
    names += re.findall(r'\bstatic\s+inline\b[^;{]*?\b(mp_\w+)\s*\(', text)
    return names


def swept_functions(tests):
    text = open(tests).read()
    return set(re.findall(r'\bB?X\(\s*"(mp_\w+)"', text))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--header', default=os.path.join(HERE, '..', 'ref', 'include', 'mp.h'))
    ap.add_argument('--tests', default=os.path.join(HERE, 'tests', 'test_badinput.c'))
    ap.add_argument('--list', action='store_true', help='print every function and its state')
    a = ap.parse_args()

    funcs = public_functions(a.header)
    errors = []
    dups = sorted({f for f in funcs if funcs.count(f) > 1})
    if dups:
        errors.append('declared twice in mp.h: ' + ', '.join(dups))
    funcs = sorted(set(funcs))
    swept = swept_functions(a.tests)
    missing = [f for f in funcs if f not in swept and f not in EXEMPT]
    unknown = sorted(f for f in swept if f not in funcs)
    stale = sorted(f for f in EXEMPT if f not in funcs)
    both = sorted(f for f in EXEMPT if f in swept)
    if missing:
        errors.append(f'{len(missing)} public call(s) neither swept nor exempt: ' + ', '.join(missing))
    if unknown:
        errors.append('tables name functions mp.h does not declare: ' + ', '.join(unknown))
    if stale:
        errors.append('exempt but not in mp.h: ' + ', '.join(stale))
    if both:
        errors.append('exempt but swept (drop the exemption): ' + ', '.join(both))

    if a.list:
        for f in funcs:
            state = 'swept' if f in swept else f'exempt: {EXEMPT[f]}' if f in EXEMPT else 'MISSING'
            print(f'{f}\t{state}')
    n_swept = sum(1 for f in funcs if f in swept)
    n_exempt = sum(1 for f in funcs if f in EXEMPT and f not in swept)
    for e in errors:
        print('badinput:', e, file=sys.stderr)
    print(f'badinput: {len(funcs)} public calls, {n_swept} swept, {n_exempt} exempt '
          f'({", ".join(sorted(EXEMPT))}; --list gives the reasons): '
          f'{"OK" if not errors else "INCOMPLETE"}')
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
