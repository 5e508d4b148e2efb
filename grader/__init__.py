"""Offline, handwriting-aware homework grader.

The flow, one module per product: photo (imageio) -> registered page (registration)
-> crops (crops) -> preprocessed crops (preprocess) -> readings (recognizer)
-> scores (scoring) -> stored submission (store) -> gradebook (export).
"""

__version__ = "0.1.0"
