"""The domain classes behind `rung.space`: one per kind of value, each sampling, checking and encoding itself.

`base` (the `Domain` base, argument checks, the walk over nested plain values), `numeric` (`Float`,
`Integer`, `Normal`) and `choices` (`Categorical`, `GridValues`, `SampleFrom`); every name below is
importable from `rung.domains`. The public classes are re-exported by `rung.space` (and `rung`);
the others are shared with `rung.sampling`, `rung.space`, `rung.hp`, `rung._tree` and the searchers.
Domains validate themselves on construction, so a `Float(...)` built directly is as safe as one
built with `rung.uniform(...)`, and the error names the function the user knows (`loguniform`).
"""

from rung.domains.base import (
    PENDING,
    Domain,
    check_int,
    check_real,
    copy_tree,
    fmt,
    has_domain,
    json_value,
    matches,
)
from rung.domains.choices import Categorical, GridValues, SampleFrom
from rung.domains.numeric import Float, Integer, Normal

__all__ = [
    "PENDING",
    "Categorical",
    "Domain",
    "Float",
    "GridValues",
    "Integer",
    "Normal",
    "SampleFrom",
    "check_int",
    "check_real",
    "copy_tree",
    "fmt",
    "has_domain",
    "json_value",
    "matches",
]
