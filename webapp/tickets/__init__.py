"""Tickets (reports and wishes): submission and routing, the state machine, who sees what,
wish privacy, deadlines and the ladder, photos, and the read models lists show."""
