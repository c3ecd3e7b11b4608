"""The checks, one per coded exercise, and the open exercises: the table `EXERCISES`, a module per chapter.

Every check compares the student's function with something computed independently of it (a
hand value, autograd, a closed form, a property that any correct answer has) on small inputs,
and its failure message says what was expected. Each is shown to fail on a plausible wrong
answer by ``tests/test_exercises.py``.
"""

from companion.exercises.checks import (
    flows,
    gan_losses,
    glo,
    inversion,
    minimax,
    restoration,
    saturation,
    stabilisers,
)

__all__ = ["EXERCISES"]

#: Every exercise of the book, in book order.
EXERCISES = [
    *gan_losses.EXERCISES,
    *inversion.EXERCISES,
    *restoration.EXERCISES,
    *stabilisers.EXERCISES,
    *glo.EXERCISES,
    *flows.EXERCISES,
    *saturation.EXERCISES,
    *minimax.EXERCISES,
]
