"""One active-learning session: its config, the round loop, the SQLite store, the background worker.

Modules: ``config`` (``SessionConfig``), ``loop`` (``ActiveLearningSession``, rounds and oracles),
``store`` (``SessionStore``), ``store_merge``, ``worker`` (background threads with progress),
``budget`` (default sizes), ``reference`` (the full-data score), ``tables`` (round and pick tables).
"""
