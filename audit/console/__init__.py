"""Console pages of the audit app: audit log, retention and legal holds, GDPR requests."""
