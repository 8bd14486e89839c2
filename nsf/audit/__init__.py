"""The de-identification audit: can the shared pseudonyms be reversed or linked, and how fast?

Measurements are pure functions of frames; :func:`read_audit_tables` is the only file access and
:mod:`nsf.tracking.audit` the only MLflow access.
"""

from nsf.audit._dataset import AuditTables, read_audit_tables
from nsf.audit._linkage import LinkageResult, link_tables, simulate_recipient_table
from nsf.audit._quasi import K_BUCKETS, QuasiResult, coarsen, k_anonymity
from nsf.audit._reversal import ReversalResult, check_hex_digests, recover_phones
from nsf.audit._run import ProgressFactory, run_audit
from nsf.audit._sha256_lanes import PHONE_SPACE, phone_digest_word7

__all__ = [
    "K_BUCKETS",
    "PHONE_SPACE",
    "AuditTables",
    "LinkageResult",
    "ProgressFactory",
    "QuasiResult",
    "ReversalResult",
    "check_hex_digests",
    "coarsen",
    "k_anonymity",
    "link_tables",
    "phone_digest_word7",
    "read_audit_tables",
    "recover_phones",
    "run_audit",
    "simulate_recipient_table",
]
