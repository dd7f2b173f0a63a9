"""The ``importer`` command: a thin layer over the library (``importer.jobs``).

``python -m importer.cli`` is the same command. Everything else in this package is private
(``_name.py``).
"""

from importer.cli._app import main

__all__ = ["main"]
