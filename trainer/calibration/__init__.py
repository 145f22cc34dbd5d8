"""The out-of-scope rule's calibration: the familiarity bank and the thresholds (numpy only)."""
