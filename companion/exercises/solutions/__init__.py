"""Reference solutions of the exercises, one module per chapter (the stubs in ``exercises/`` mirror them)."""
