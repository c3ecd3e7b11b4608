"""``python -m companion`` is the ``companion`` command."""

from companion.cli import entry

if __name__ == "__main__":
    entry()
