"""Personal data (PIPL): fields sealed at rest, retention, a resident's deletion, the access log.

- sealing: the field cipher of phone numbers and their keyed lookup hashes (PERSONAL_DATA_KEY);
- retention: what `flask privacy purge` removes from tickets closed longer ago than
  PERSONAL_DATA_RETENTION_DAYS, keeping the anonymous statistics;
- deletion: a resident's own deletion request (DELETE /api/v1/me, `flask privacy delete-person`);
- access: one audit entry per view of personal data by staff.

docs/privacy.md says what is collected, why, for how long and who sees it.
"""
