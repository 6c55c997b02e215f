"""GDPR data-subject requests: export (Art. 15/20) and erasure (Art. 17).

Services (writes) are re-exported here; reads are in audit.selectors.
"""

from audit.gdpr.download import (
    DownloadLink,
    gdpr_download_link,
    gdpr_export_download,
    gdpr_export_read,
)
from audit.gdpr.requests import (
    gdpr_request_create,
    gdpr_request_process,
    gdpr_requests_resume,
)
from audit.subjects import Subject, subject_hash, subject_parse

__all__ = [
    "DownloadLink",
    "Subject",
    "gdpr_download_link",
    "gdpr_export_download",
    "gdpr_export_read",
    "gdpr_request_create",
    "gdpr_request_process",
    "gdpr_requests_resume",
    "subject_hash",
    "subject_parse",
]
