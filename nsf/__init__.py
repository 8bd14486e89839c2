"""nsf: an insufficient-funds risk score, reproduced and audited."""

import os

# Arrow allocates from the C library's allocator unless the environment says otherwise. Its
# default (mimalloc) returns freed pages to the operating system between batches, and zeroing
# them again on the next page faults took about a fifth of the batch scorer's CPU time. Read
# when pyarrow is first imported, so it is set here, before any module imports pyarrow.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
