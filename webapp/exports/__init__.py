"""Exports: the queue, the dashboard's tables and a street's monthly report as files.

- writers.py: streamed CSV (UTF-8 with a BOM, for Excel on Windows) and XLSX (openpyxl's
  write-only mode into a temporary file): memory does not grow with the rows
- queue.py: the rows of the filtered queue with Chinese headers (webapp.tickets.queue's own
  scope and filters, read in batches by queue_batches)
- figures.py: the dashboard's tables and the monthly report of a street (webapp.figures)

A feature above tickets and figures: it reads their read models and never changes a row; the
door (webapp.console.exports) checks who may export what and writes each export to the audit.
"""
