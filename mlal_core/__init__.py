"""MLAL Workbench core: multi-label active learning without any UI dependency.

Importable without streamlit. See DESIGN.md for the architecture and the contracts.
"""

__version__ = "0.1.0"
