"""Reading datasets: a simulated dataset folder, or the user's own table.

This is an I/O edge: everything downstream takes the data frames returned here, and the
:class:`DatasetDescription` both doors produce (subject id, target and positive label, time and
population columns, attribute groups, contested groups, sensitive columns, windows, outcome).
"""

from nsf.data._dataset import Dataset, arrow_to_frame, open_dataset, sort_rows
from nsf.data._description import (
    DESCRIPTION_SCHEMA,
    AttributeGroup,
    DatasetDescription,
    FeedFeature,
    SensitiveColumn,
    SharedCategory,
    description_from_manifest,
)
from nsf.data._latest import export_latest
from nsf.data._manifest import FORMAT as DATASET_FORMAT
from nsf.data._manifest import check_dataset, read_manifest, read_summary
from nsf.data._table import (
    categorical_columns,
    describe_table,
    read_user_table,
    reading_summary,
)

__all__ = [
    "DATASET_FORMAT",
    "DESCRIPTION_SCHEMA",
    "AttributeGroup",
    "Dataset",
    "DatasetDescription",
    "FeedFeature",
    "SensitiveColumn",
    "SharedCategory",
    "arrow_to_frame",
    "categorical_columns",
    "check_dataset",
    "describe_table",
    "description_from_manifest",
    "export_latest",
    "open_dataset",
    "read_manifest",
    "read_summary",
    "read_user_table",
    "reading_summary",
    "sort_rows",
]
