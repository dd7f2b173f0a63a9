"""``importer serve``: a local web page over the same library calls as the CLI.

Upload a file, fix its columns and cells in a grid, check it against the server, send it, and
download the results. Loopback only, guarded by a secret in the printed URL. Needs the ``web``
extra (``pip install 'kantata-importer[web]'``); the CLI imports this package only for ``serve``.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importer.web._app import WebConfig, bind_loopback, create_app, serve

__all__ = ["WebConfig", "bind_loopback", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from importer.web import _app

        return getattr(_app, name)
    raise AttributeError(f"module 'importer.web' has no attribute {name!r}")
