"""Loaded first by every pytest process of the course (``-p tests.support.pytest_setup``).

jsonschema checks the ``iri`` format with ``rfc3987-syntax`` whenever that is
installed (JupyterLab brings it, for ``make lab``), and importing it builds a
grammar: about 1.9 s of CPU in every process that imports nbformat, nbval's
included. No notebook schema asks for that format, so pytest's processes do
without it; jsonschema then leaves ``iri`` values unchecked. This runs before
nbval is loaded, which is why it is a plugin named on the command line and not
part of conftest.py.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)
