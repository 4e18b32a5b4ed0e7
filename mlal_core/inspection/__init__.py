"""What the app's pages show, as pure functions of datasets, sessions and stored records.

Modules: ``round_history`` (labelled sets, correlations and picks of any past round, replay),
``walkthrough`` (a round replayed as numbered steps on one map, two strategies on one round),
``walkthrough_tables`` (a step's numbers as tables), ``why_not`` (one sample's story in a round),
``views`` (tables, descriptions, glossary links), ``feature_summary`` (a tabular sample in words),
``embedding_maps`` and ``projection`` (2-D maps), ``session_zip`` (a whole session as one zip).
"""
