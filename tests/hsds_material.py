"""Where the official HSDS 3.0 material is: `shared/hsds-3.0/` beside the checkout.

The checkout may be /work/main (then /work/shared), a worktree such as /work/wt/x, or a clone
anywhere below /work: the first folder above the tests that holds `shared/hsds-3.0` is used.
Without it the tests that need it fail, saying where they looked.
"""

from __future__ import annotations

from pathlib import Path


def hsds_material() -> Path:
    """The folder with `schema/` and `examples/` of HSDS 3.0; AssertionError if missing."""
    here = Path(__file__).resolve()
    for folder in here.parents:
        candidate = folder / "shared" / "hsds-3.0"
        if (candidate / "schema" / "compiled").is_dir():
            return candidate
    places = ", ".join(str(folder / "shared" / "hsds-3.0") for folder in here.parents)
    raise AssertionError(f"the official HSDS 3.0 material is missing; looked in {places}")
