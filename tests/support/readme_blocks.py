"""The command blocks of the course's markdown files, as the tests run them.

A README gives its commands in fenced blocks tagged ``console`` (shell lines,
or a transcript whose commands start with ``$ ``) or ``pycon`` (a Python
session: ``>>>`` and ``...`` lines, each followed by what it prints). An
untagged block is what a command prints, or a tree; a ``python`` block is an
excerpt of code: neither is run.

A test that runs a block asks for it with ``readme_block(path, first_line)``,
both literal, so that the README and the test cannot drift apart (and
tests/test_readme_blocks.py finds, by reading the tests' sources, that every
block is run somewhere).
"""

import os
import pty
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cached_property

from sprout import REPO

#: The files whose command blocks the tests run.
MARKDOWN_FILES = (
    "README.md",
    *(f"day{number}/README.md" for number in range(8)),
    "api/README.md",
)
#: The chapters that continue the course after day 7 (their names: NN_topic.md).
CHAPTERS = "api/chapters/*.md"
#: The tags of the blocks that are typed: a shell's lines, a Python session.
COMMAND_TAGS = ("console", "pycon")

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<tag>[^\s`]*)[^`]*$")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def markdown_files():
    """The course's markdown files that hold commands, relative to the repository."""
    chapters = sorted(path.relative_to(REPO).as_posix() for path in REPO.glob(CHAPTERS))
    return [*MARKDOWN_FILES, *chapters]


@dataclass(frozen=True)
class Block:
    """One fenced block of a markdown file: its tag, its lines, and the block after it."""

    path: str  # relative to the repository
    line: int  # the number of the line of its opening fence, from 1
    tag: str  # "console", "pycon", "" (output, a tree), "python" ...
    lines: tuple[str, ...]
    following: "Block | None" = None  # the next block of the file

    @property
    def text(self):
        return "".join(line + "\n" for line in self.lines)

    @property
    def first_line(self):
        return self.lines[0] if self.lines else ""

    @property
    def is_transcript(self):
        """A console block that shows its commands with a ``$ `` prompt and what they print."""
        return self.tag == "console" and any(line.startswith("$ ") for line in self.lines)

    @cached_property
    def commands(self):
        """What a reader types, one shell command a line: a console block's lines (the lines
        with a ``$ `` prompt in a transcript, without it), ``\\``-continued lines joined; a
        pycon block's ``>>>``/``...`` lines, prompts kept. Blank lines are left out; a
        comment after ``#`` is left to the shell, which ignores it."""
        if self.tag == "pycon":
            return [line for line in self.lines if line.startswith((">>>", "..."))]
        if self.tag != "console":
            raise ValueError(f"{self} is not a command block")
        typed = [line[2:] for line in self.lines if line.startswith("$ ")]
        if not self.is_transcript:
            typed = list(self.lines)
        commands, pending = [], ""
        for line in typed:
            if line.endswith("\\"):  # continued on the next line, as the shell joins them
                pending += line[:-1]
                continue
            pending += line
            try:
                shlex.split(pending, comments=True)
            except ValueError:  # a quoted string goes on to the next line: so does the command
                pending += "\n"
                continue
            if pending.strip():
                commands.append(pending.strip())
            pending = ""
        assert not pending, f"{self}: a command is left unfinished: {pending!r}"
        return commands

    @property
    def words(self):
        """Each command as the shell splits it, its comment left out (``make test  # ...``)."""
        return [shlex.split(command, comments=True) for command in self.commands]

    @property
    def script(self):
        """A console block as one shell script, its commands in order, stopping at the first
        that fails."""
        return "set -e\n" + "\n".join(self.commands) + "\n"

    @property
    def output(self):
        """A transcript's lines that are not commands: what its commands print."""
        if self.tag == "pycon":
            return [line for line in self.lines if not line.startswith((">>>", "..."))]
        if self.is_transcript:
            return [line for line in self.lines if not line.startswith("$ ")]
        if self.following is not None and self.following.tag == "":
            return list(self.following.lines)
        raise ValueError(f"{self} shows nothing of what it prints")

    def shown_after(self, first_line):
        """The output block (untagged) after this one whose first line starts with
        ``first_line``, with nothing but output blocks and prose between them: a worker's
        log that the README shows after the command that makes it log."""
        block = self.following
        while block is not None and block.tag == "":
            if block.first_line.startswith(first_line):
                return block
            block = block.following
        raise LookupError(f"no output block starts with {first_line!r} after {self}")

    def __str__(self):
        return f"{self.path}:{self.line} ({self.first_line!r})"


def parse_blocks(text, path="<text>"):
    """Every fenced block of a markdown text, in order, top-level and indented alike."""
    lines = text.splitlines()
    blocks = []
    number = 0
    while number < len(lines):
        opening = FENCE.match(lines[number])
        if opening is None:
            number += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        body = []
        number += 1
        while number < len(lines) and not (
            lines[number].startswith(indent + fence[0] * len(fence))
            and lines[number].strip().strip(fence[0]) == ""
        ):
            body.append(lines[number].removeprefix(indent))
            number += 1
        start = number - len(body)  # the opening fence's number, from 1
        blocks.append((start, opening["tag"], tuple(body)))
        number += 1
    # Each block knows the next one: what a command prints follows it, after a line of prose
    # ("python workflows.py", then "prints:" and its output).
    result = []
    for start, tag, body in reversed(blocks):
        following = result[0] if result else None
        result.insert(0, Block(path, start, tag, body, following))
    return result


def blocks_of(path):
    """Every fenced block of ``path`` (relative to the repository)."""
    return parse_blocks((REPO / path).read_text(), path)


def command_blocks(path):
    """The blocks of ``path`` that are typed: console and pycon."""
    return [block for block in blocks_of(path) if block.tag in COMMAND_TAGS]


def readme_block(path, first_line):
    """The one console or pycon block of ``path`` whose first line starts with ``first_line``.

    A block that is exactly ``first_line`` wins over those it only begins, and a block
    whose first line is exactly ``first_line`` over those whose first line it begins
    (``$ python manage.py watch ID`` against ``... ID | cat``). Two blocks that begin
    alike are told apart by more of their lines: ``"cd day1\\npython"`` is the block
    whose text begins so. An error if there is no such block, or several.
    """
    blocks = command_blocks(path)
    found = []
    for tier in (
        lambda block: block.text.rstrip("\n") == first_line,
        lambda block: block.first_line == first_line,
        lambda block: block.text.startswith(first_line),
    ):
        found = found or [block for block in blocks if tier(block)]
    if not found:
        raise LookupError(f"{path} has no console or pycon block that starts with {first_line!r}")
    if len(found) > 1:
        raise LookupError(
            f"{path} has {len(found)} blocks that start with {first_line!r}: "
            + ", ".join(str(block) for block in found)
        )
    return found[0]


def substitute(text, port=None, replacing=None, **values):
    """``text`` with a README's placeholders replaced, the only changes a test makes:
    ``localhost:8000`` becomes ``localhost:<port>``; ``<id>``, ``<key>``, ``<task id>``,
    ``$TOKEN``, ``/path/to/dayN`` ... the values given by name (``id=``, ``key=``,
    ``task_id=``, ``TOKEN=``, ``path_to_day3=``). ``id`` may be a list: one value for each
    ``<id>`` in turn. ``replacing`` maps an example the README shows (an id it printed) to
    the value of this run."""
    if port is not None:
        text = text.replace("localhost:8000", f"localhost:{port}")
    for example, value in (replacing or {}).items():  # an example's id, for a real one
        assert example in text, (example, text)
        text = text.replace(example, str(value))
    for name, value in values.items():
        if name.startswith("path_to_"):
            text = text.replace(f"/path/to/{name.removeprefix('path_to_')}", str(value))
        elif name.isupper():
            text = text.replace(f"${name}", str(value))
        elif isinstance(value, list):
            for one in value:
                text = text.replace(f"<{name.replace('_', ' ')}>", str(one), 1)
        else:
            text = text.replace(f"<{name.replace('_', ' ')}>", str(value))
    leftover = re.findall(r"<(?:id|key|task id)>|\$TOKEN|/path/to/day\d", text)
    assert not leftover, f"placeholders left in {text!r}: {leftover}"
    return text


def masked(lines):
    """``lines`` with what differs from one run to the next masked: ids (a UUID, or the
    README's ``[…]``), and times (``5.0 s``, ``(20.1 s)``, ``in 5.0…s``, ``Done in 29 s``)."""
    masks = [
        (UUID, "<id>"),
        (re.compile(r"\[…\]"), "[<id>]"),
        # A time with the spaces that align it: "( 0.5 s)", "in 5.0…s", "Done in 29 s".
        (re.compile(r" *\d+(?:\.\d+)?…? ?s\b"), "<time>"),
    ]
    result = []
    for line in lines:
        for pattern, mask in masks:
            line = pattern.sub(mask, line)
        result.append(line)
    return result


def matches(shown, printed):
    """Whether ``printed`` (lines) is what the README ``shown`` (lines), ids and times masked;
    a line ``…`` of the README stands for any lines, none included, and ``{…}`` in a line for
    any text. Returns the first line of the README that does not match, or None."""
    shown, printed = masked(shown), masked(printed)

    def line_pattern(line):
        parts = [re.escape(part) for part in line.split("{…}")]
        return re.compile("(?:.*)".join(parts) + r"\Z", re.S)

    furthest = [(-1, None)]  # the README's furthest line that a way of matching reached

    def match(i, j):
        if i == len(shown):
            if j == len(printed):
                return None
            if i > furthest[0][0]:
                furthest[0] = (i, f"the README ends, and more was printed: {printed[j:]}")
            return "no match"
        if shown[i].strip() == "…":
            for k in range(j, len(printed) + 1):
                if match(i + 1, k) is None:
                    return None
            return "no match"
        if j < len(printed) and line_pattern(shown[i]).match(printed[j]):
            return match(i + 1, j + 1)
        got = printed[j] if j < len(printed) else "<nothing>"
        if i > furthest[0][0]:
            furthest[0] = (i, f"README line {shown[i]!r}, printed {got!r}")
        return "no match"

    return None if match(0, 0) is None else furthest[0][1] or "no match"


def log_lines(log):
    """A worker's log lines without their time and process (``[2026-...: INFO/...] ``),
    as a README shows them."""
    return [re.sub(r"^\[[^\]]*: \w+/[^\]]*\] ", "", line) for line in log.splitlines()]


def assert_prints(block, printed, shown=None):
    """Assert that ``printed`` (text) is what ``block``'s transcript shows (or ``shown``): a
    pycon block's whole session, prompts and values; a console transcript's output; the
    output block that follows a command."""
    if shown is None:
        shown = list(block.lines) if block.tag == "pycon" else block.output
    lines = printed.rstrip("\n").splitlines()
    mismatch = matches(shown, lines)
    assert mismatch is None, f"{block} shows other than what its commands print: {mismatch}\n" + (
        "printed:\n" + "\n".join(lines)
    )


# Running blocks ------------------------------------------------------------------


def shell_env(extra=None, base=None):
    """The environment of a reader's terminal with ``.venv`` activated: this Python's
    ``python`` and ``celery`` first on ``PATH``; ``extra`` on top of ``base`` (this
    process's environment unless given)."""
    bin_folder = os.path.dirname(sys.executable)
    env = {**(os.environ if base is None else base), **(extra or {})}
    env["PATH"] = os.pathsep.join([bin_folder, env.get("PATH", "")])
    return env


def run_script(
    block,
    *,
    cwd=REPO,
    env=None,
    base=None,
    timeout=60,
    check=True,
    port=None,
    replacing=None,
    **values,
):
    """Run a console block's commands in bash, in ``cwd`` (the repository unless told), as a
    reader's terminal would, with the README's placeholders replaced (``substitute``);
    ``env`` on top of ``base``, this process's environment unless given. Returns the
    finished process: its ``stdout`` and ``stderr``."""
    script = substitute(block.script, port=port, replacing=replacing, **values)
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=cwd, env=shell_env(env, base), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if check:
        assert done.returncode == 0, (str(block), script, done.stdout, done.stderr)
    return done


def run_command(block, index, **options):
    """Run one command of a console block (``block.commands[index]``), as ``run_script``
    runs a whole block: for a block whose commands go to several terminals, one at a time."""
    return run_script(OneCommand(block, block.commands[index]), **options)


@dataclass(frozen=True)
class OneCommand:
    block: Block
    command: str

    @property
    def script(self):
        return "set -e\n" + self.command + "\n"

    def __str__(self):
        return f"{self.block}, {self.command!r}"


# A Python session typed at the prompt, as sprout.replay types it (each line echoed, an
# expression's value printed, stopping at the first error).
# With SETTLE, the reader waits, before the next line, until every task sent so far has
# left PENDING (at most 10 s): what a reader sees at the tutorial's pace.
REPLAY = """\
import sys, time
from celery import result as results
from sprout.replay import Session
sent = []
made = results.AsyncResult.__init__
def remember(self, *args, **kwargs):
    made(self, *args, **kwargs)
    sent.append(self)
results.AsyncResult.__init__ = remember
session = Session()
for line in sys.stdin.read().splitlines():
    print(line, flush=True)
    session.push(line[4:])
    deadline = time.monotonic() + 10
    while SETTLE and any(r.state == "PENDING" for r in sent) and time.monotonic() < deadline:
        time.sleep(0.01)
session.push("")
"""


def run_session(blocks, *, cwd, env=None, settle=False, timeout=60):
    """Type the ``>>>`` and ``...`` lines of one or more pycon blocks (one terminal's
    session) into Python started in ``cwd``; what the terminal then shows, echoed lines
    and printed values, as text."""
    typed = "\n".join(line for block in blocks for line in block.commands)
    done = subprocess.run(
        [sys.executable, "-c", REPLAY.replace("SETTLE", str(bool(settle)))],
        input=typed, cwd=cwd, env=shell_env(env), capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    assert done.returncode == 0, (str(blocks[0]), done.stdout, done.stderr)
    return done.stdout


def run_on_terminal(block, *, cwd, env=None, timeout=60):
    """Run a one-line console block with a terminal as its output (a pseudo-terminal), as
    a reader sees it; what the terminal shows at the end, as text: a table drawn again
    in place (``ESC[nF`` up, ``ESC[K`` clear) counts only as last drawn."""
    (command,) = block.commands
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd, env=shell_env({"TERM": "xterm", **(env or {})}),
        stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary,
    )  # fmt: skip
    os.close(secondary)
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, f"{block} did not end within {timeout} s"
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal's other end closed: the command ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert process.wait(timeout=10) == 0, b"".join(chunks).decode(errors="replace")
    shown = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    # What came before the last move back up was drawn over.
    return re.split(r"\x1b\[\d+F", shown)[-1].replace("\x1b[K", "")


def command_words(block, index=-1):
    """One command of a console block, as the shell splits it (the last unless told)."""
    return block.words[index]


def assert_starts_the_worker(block, worker):
    """Assert that ``worker`` (a ``sprout.DayWorker``) runs the block's last command, then
    only Celery's own options: its command line, after the variables that give it its
    queue, begins with the README's command; and a ``cd`` before it is the worker's folder."""
    words = command_words(block)
    command_line = worker.command_line
    for name, value in worker.environment.items():
        command_line = command_line.removeprefix(f"{name}={shlex.quote(value)} ")
    assert command_line.startswith(shlex.join(words)), (str(block), worker.command_line)
    assert worker.command[: len(words)] == words
    for earlier in block.words[:-1]:
        if earlier[0] == "cd":
            assert worker.cwd == (REPO / earlier[1]).resolve(), (str(block), worker.cwd)
