# mutant: part=add
# mistake: adds b twice
from reference_solution import *  # noqa: F401,F403


def add(a, b):
    return a + 2 * b
