"""`rung.sklearn`: `RungSearchCV`, a drop-in for scikit-learn's `GridSearchCV` and `RandomizedSearchCV`.

This module imports scikit-learn (`pip install "rung[sklearn]"`); `import rung` does not.

Example:
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from rung.sklearn import RungSearchCV
    >>> x, y = load_iris(return_X_y=True)
    >>> search = RungSearchCV(LogisticRegression(max_iter=500), param_grid={"C": [0.1, 1.0, 10.0]})
    >>> search.fit(x, y).best_params_
    {'C': 1.0}
"""

from __future__ import annotations

from rung.sklearn._search import RungSearchCV

__all__ = ["RungSearchCV"]
