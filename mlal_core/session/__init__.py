"""One active-learning session: its config, the round loop, the SQLite store, the background worker.

Modules: ``config`` (``SessionConfig``), ``records`` (``RoundRecord``, ``PendingRound``: what the loop
makes and the store keeps; below both), ``components`` (a session's model and strategy, given by
name or as objects, recorded in its config), ``loop`` (``ActiveLearningSession``, rounds and oracles),
``store`` (``SessionStore``), ``store_merge``, ``worker`` (background threads with progress),
``budget`` (default sizes), ``reference`` (the full-data score), ``tables`` (the one builder of round tables and the one of pick tables).
"""
