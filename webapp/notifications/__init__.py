"""Notifications: the outbox, subscribe-message templates, the consent ledger, WeChat's pushes."""
