"""GDPR: export and erase a data subject's data (by phone number or contact), and call retention."""

from appliance.gdpr.erase import ErasureReport, erase_subject
from appliance.gdpr.export import ExportResult, export_subject
from appliance.gdpr.retention import DEFAULT_RETENTION_DAYS, RETENTION_KEY, OrgRetention, RetentionJob, run_retention
from appliance.gdpr.subject import InvalidSubject, phone_variants

__all__ = ["DEFAULT_RETENTION_DAYS", "RETENTION_KEY", "ErasureReport", "ExportResult", "InvalidSubject",
           "OrgRetention", "RetentionJob", "erase_subject", "export_subject", "phone_variants", "run_retention"]
