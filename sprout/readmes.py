"""What a day's README tells its reader to type in the second terminal.

Each day's README says "Terminal 2, ..." and gives one fenced block after it:
``console``, a shell command (``python workflows.py``), or ``pycon``, a Python
session whose ``>>>`` and ``...`` lines are what the reader types. ``make
demo`` runs exactly that, so the tour and the READMEs cannot drift apart.
"""

import re
from dataclasses import dataclass

from .paths import REPO

SECOND_TERMINAL = re.compile(r"^Terminal 2\b.*?^```(console|pycon)\n(.*?)^```", re.M | re.S)


@dataclass(frozen=True)
class SecondTerminal:
    kind: str  # "console": a shell command; "pycon": a Python session
    typed: tuple[str, ...]  # the command, or the session's lines with their prompts

    @property
    def shown(self):
        """The command as the tour shows it: ``python workflows.py``, or ``python``."""
        return self.typed[0] if self.kind == "console" else "python"


def second_terminal(day):
    """What ``day``'s README has its reader type in Terminal 2."""
    readme = (REPO / day / "README.md").read_text()
    match = SECOND_TERMINAL.search(readme)
    if match is None:
        raise ValueError(f"{day}/README.md has no ```console or ```pycon block after 'Terminal 2'")
    kind, block = match.groups()
    lines = block.splitlines()
    if kind == "console":
        return SecondTerminal(kind, (lines[0],))
    return SecondTerminal(kind, tuple(line for line in lines if line.startswith((">>>", "..."))))
