"""scikit-learn's input validation, with the return types jaxl2 relies on declared.

scikit-learn ships no type information, and a type checker's inference from its source is
wrong for these (pyright reads ``validate_data`` as possibly returning ``str``). At run time
these are scikit-learn's own functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:

    def validate_data(*args: Any, **kwargs: Any) -> Any: ...

    def _check_sample_weight(*args: Any, **kwargs: Any) -> Any: ...

else:
    from sklearn.utils.validation import _check_sample_weight, validate_data

__all__ = ["_check_sample_weight", "validate_data"]
