"""pypy3 VAL-EQ-SAME-OBJECT.py -- PyPy's `is` compares floats by value, so two
distinct NaN objects are identical and [nan] == [other nan] is True; in CPython
only the same object is (container equality checks identity first)."""
import pickle
a = float('nan')
b = pickle.loads(pickle.dumps(a))   # another NaN object, as a decoded value is
print('a is b:', a is b, '| [a] == [b]:', [a] == [b], '(CPython: False, False)')
