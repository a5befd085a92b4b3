"""`make bench`: fitmesh under load, against baselines measured in the same run."""
