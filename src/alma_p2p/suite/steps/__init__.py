"""Step definitions, one module per domain noun; shared Then steps in ``common``."""
