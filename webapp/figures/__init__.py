"""The figures leaders report upward: response, on-time closure and satisfaction rates, the
overdue, the hours to close, per category, per child unit and per week, and the hotspots.

- period.py: a period of Beijing days [from, to) and its bounds in UTC
- scope.py: the place a figure covers, never more than the viewer's (their scope's places)
- definitions.py: the definitions as the dashboard shows them, and the one SQL condition of
  each count (the rule lives there, once)
- compute.py: the aggregate statements and the figures they make
- models.py, rollup.py: the daily rollup of the settled tickets' counts (figures_daily), kept
  by the action that settles a ticket, completed and checked by `flask figures rollup`

Everything is computed from the tickets' columns that the state machine keeps in step with the
events (accepted_at, resolved_at, reopen_count, closed_at, rating, status): the counts are one
aggregate statement over the rollup's rows of the scope and period (the settled tickets) and one
over the tickets not rolled up (ix_tickets_figures_live, migration 0006); the medians and the
hotspots read the tickets (ix_tickets_figures_street, migration 0005).
tests/figures/test_figures.py recounts every figure from the event rows alone.
"""
