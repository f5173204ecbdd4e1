# A package, so that tests/h5/test_report_form.py and tests/browser/test_report_form.py can
# share a file name under pytest's default import mode.
