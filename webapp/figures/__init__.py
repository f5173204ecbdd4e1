"""The figures leaders report upward: response, on-time closure and satisfaction rates, the
overdue, the hours to close, per category, per child unit and per week, and the hotspots.

- period.py: a period of Beijing days [from, to) and its bounds in UTC
- scope.py: the place a figure covers, never more than the viewer's (their scope's places)
- definitions.py: the definitions as the dashboard shows them, and the one SQL condition of
  each count (the rule lives there, once)
- compute.py: the aggregate statements and the figures they make

Everything is computed from the tickets' columns that the state machine keeps in step with the
events (accepted_at, resolved_at, reopen_count, closed_at, rating, status): one aggregate
statement over the tickets of the scope and period, on the index of migration 0005.
tests/figures/test_figures.py recounts every figure from the event rows alone.
"""
