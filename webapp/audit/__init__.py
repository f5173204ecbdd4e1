"""The audit trail: who did what in the staff console, when and from where (append-only)."""
