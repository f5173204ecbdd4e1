"""Demo data: a small "one table" (一张表) of one street, imported by `flask demo setup`."""
from pathlib import Path

SAMPLE_XLSX = Path(__file__).parent / "registry_sample.xlsx"
SAMPLE_CSV_DIR = Path(__file__).parent / "registry_sample_csv"
