"""Type a Python session into Python, as a reader would at its ``>>>`` prompt.

``python -m sprout.replay`` reads the session's lines from its input, with their
prompts (``>>> x = 1``, ``... ``), echoes each one and runs it the way the
interactive prompt does, so that each expression's value is printed as the
reader would see it. It runs in the current folder, as ``python`` would, and
exits with status 1 at the first line that raises.
"""

import code
import sys


class Session(code.InteractiveConsole):
    def showtraceback(self):
        super().showtraceback()
        sys.exit(1)

    def showsyntaxerror(self, filename=None, **kwargs):
        super().showsyntaxerror(filename, **kwargs)
        sys.exit(1)


def main():
    session = Session()
    for line in sys.stdin.read().splitlines():
        print(line, flush=True)
        session.push(line[4:])
    session.push("")  # the end of a block that is still open


if __name__ == "__main__":
    main()
