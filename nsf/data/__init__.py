"""Reading datasets: a simulated dataset folder, or the user's own table.

This is an I/O edge: everything downstream takes the data frames returned here.
"""

from nsf.data._dataset import Dataset, arrow_to_frame, open_dataset, sort_rows
from nsf.data._table import read_user_table

__all__ = ["Dataset", "arrow_to_frame", "open_dataset", "read_user_table", "sort_rows"]
