"""Exercises with checked answers: a stub file per chapter that the student edits, checks that bite.

Layout:

* ``exercises/<chapter>.py`` in the repository: the stubs (signature, docstring with the
  equation and shapes, ``raise NotImplementedError``). Students edit these.
* ``companion/exercises/solutions/<chapter>.py``: reference solutions (shown, collapsed, on the
  chapter's page).
* `companion.exercises.checks`: one check per coded exercise, a module per chapter. A check
  calls the student's function on small inputs and compares with an independent computation
  (a hand value, autograd, a closed form, a property); a failure is one or two lines saying
  what was expected.
* `companion.exercises.runner`: loads a stub or solution module and runs its chapter's checks.

``companion exercises list`` lists them; ``companion exercises check CHAPTER`` checks the stubs
(``--solutions`` checks the reference solutions instead). CI proves that the checks check: all
pass on the solutions, all fail on the untouched stubs, and each fails on at least one plausible
wrong answer (``tests/test_exercises.py``).
"""

from companion.exercises.checks import EXERCISES
from companion.exercises.registry import CHAPTERS, Exercise
from companion.exercises.runner import Outcome, check_chapter, load_module

__all__ = ["CHAPTERS", "EXERCISES", "Exercise", "Outcome", "check_chapter", "load_module"]
