"""The tasks a bundled model can have: a leaf module, so the registry and the catalogue both read it."""

TASKS = ("classification", "segmentation", "detection")
