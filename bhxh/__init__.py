"""BHXH coverage warehouse: the code the DAGs, the CLI and the tests share."""

__version__ = "0.1.0"
