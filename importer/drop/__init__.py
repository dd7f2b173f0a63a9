"""The drop folder: files dropped in inbox/ are imported once each, unattended.

Everything else in this package is private (``_name.py``).
"""

from importer.drop._config import DropConfig, load_drop_config
from importer.drop._files import ensure_layout
from importer.drop._folder import process_drop_folder, watch
from importer.drop._result import DropResult, FileResult, write_json_line

__all__ = [
    "DropConfig",
    "DropResult",
    "FileResult",
    "ensure_layout",
    "load_drop_config",
    "process_drop_folder",
    "watch",
    "write_json_line",
]
