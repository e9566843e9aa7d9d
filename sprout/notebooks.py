"""Run the course's notebooks again and store their real outputs in them.

Usage::

    python -m sprout.notebooks                                        # every notebooks/*.ipynb
    python -m sprout.notebooks notebooks/day1_package_layout.ipynb    # only these

Each notebook runs from its first cell to its last in a fresh kernel of this
Python, started in the notebook's folder (as nbval runs it), and is saved in
place with its new outputs; a notebook that fails is left as it was. One line
per notebook says how it went. ``TASK_DELAY`` is not passed
on: the stored outputs are those a reader sees with the tasks' default delay.
"""

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from .paths import REPO

NOTEBOOKS = REPO / "notebooks"

# Only what a reader's Jupyter needs to open the notebook: no paths, no timings.
KEPT_METADATA = ("kernelspec", "language_info")


def run(path, timeout=600):
    """Execute the notebook at ``path`` and save it with its outputs."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        # The kernel's own warnings (it listens on local TCP ports) are not the notebook's.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    notebook.metadata = {
        key: notebook.metadata[key] for key in KEPT_METADATA if key in notebook.metadata
    }
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(notebook, path)


def main(argv=None):
    paths = [Path(arg).resolve() for arg in (argv or [])] or sorted(NOTEBOOKS.glob("*.ipynb"))
    os.environ.pop("TASK_DELAY", None)
    failed = 0
    for path in paths:
        name = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        started = time.monotonic()
        try:
            run(path)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
            failed += 1
            print(f"{name}: FAILED, left unchanged\n{error}", file=sys.stderr)
            continue
        print(f"{name}: ran in {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
