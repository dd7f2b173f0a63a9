"""The drop folder: files dropped in inbox/ are imported once each, unattended.

Everything else in this package is private (``_name.py``).
"""

from importer.drop._config import DropConfig, load_drop_config
from importer.drop._files import ensure_layout
from importer.drop._folder import process_drop_folder
from importer.drop._remote import RemoteError, is_remote
from importer.drop._remote_pass import default_work_dir, process_remote_drop
from importer.drop._result import DropResult, FileResult, write_json_line
from importer.drop._watch import watch

__all__ = [
    "DropConfig",
    "DropResult",
    "FileResult",
    "RemoteError",
    "default_work_dir",
    "ensure_layout",
    "is_remote",
    "load_drop_config",
    "process_drop_folder",
    "process_remote_drop",
    "watch",
    "write_json_line",
]
