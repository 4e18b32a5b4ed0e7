"""What the app's pages show, as pure functions of datasets, sessions and stored records.

Modules: ``round_history`` (labelled sets, correlations and picks of any past round, replay),
``views`` (tables and descriptions), ``embedding_maps`` and ``projection`` (2-D maps),
``session_zip`` (a whole session as one zip).
"""
