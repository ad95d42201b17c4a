"""The ``jaxl2`` command line (``python -m jaxl2``): ``demo``, ``sweep`` on a CSV file, ``ridge``.

A thin shell over jaxl2's public API: :mod:`.app` parses and checks the options and dispatches;
:mod:`.demo`, :mod:`.sweep` and :mod:`.ridge` are the commands; :mod:`.data` reads the CSV file
(every input mistake a one-line :class:`CLIError`); :mod:`.models` holds the small models the
sweeps train; :mod:`.report` prints and writes the results.
"""

from .app import build_parser as build_parser
from .app import main as main
from .data import CLIError as CLIError
from .data import read_csv as read_csv

__all__ = ["CLIError", "build_parser", "main", "read_csv"]
