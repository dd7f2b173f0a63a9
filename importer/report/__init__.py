"""Report: every row's outcome, written as errors/success CSV or xlsx and summary.json.

Everything else in this package is private (``_name.py``).
"""

from importer.report._csv import frame_csv_text
from importer.report._names import earlier_names, name_columns
from importer.report._outcomes import Outcomes
from importer.report._report import (
    PAYLOADS_FILE,
    SUMMARY_FILE,
    ReportWriter,
    escape_labels,
    output_labels,
)

__all__ = [
    "PAYLOADS_FILE",
    "SUMMARY_FILE",
    "Outcomes",
    "ReportWriter",
    "earlier_names",
    "escape_labels",
    "frame_csv_text",
    "name_columns",
    "output_labels",
]
