"""``importer serve``: a local web page over the same library calls as the CLI.

Upload a file, fix its columns and cells in a grid, check it against the server, send it, and
download the results. Loopback only, guarded by a secret in the printed URL. Needs the ``web``
extra (``pip install 'kantata-importer[web]'``); the CLI imports this package only for ``serve``.
"""

from importer.web._app import WebConfig, bind_loopback, create_app, serve

__all__ = ["WebConfig", "bind_loopback", "create_app", "serve"]
