"""How a result shows itself: in Jupyter (`_repr_html_`), on a Rich console
(`__rich_console__`), as text (`__repr__`: one short summary line) and as a pandas
DataFrame (`to_pandas()`).

Every result class of the API (Profile, Analysis, Comparison, RFResult,
TrainingProfile, FitResult, BenchResult, BenchResults) mixes in `Displayed`.
The views are the CLI's own tables: `netstat.render.notebook` picks the
renderer of each result by its class name and turns its `Table`s into HTML or
Rich renderables, so that a number is formatted in one place only.

This module is the one bridge from the library to `netstat.render`
(tests/test_architecture.py allows exactly this edge): the import happens when
a result is displayed, never when netstat is imported, and computing code
still never renders.
"""

from __future__ import annotations

from typing import Any, Iterable

PANDAS_MISSING = "to_pandas() needs pandas: pip install 'netstat[pandas]'."


class Displayed:
    """The display methods of a result; the views live in netstat.render.notebook."""

    def _repr_html_(self) -> str:
        from netstat.render.notebook import to_html

        return to_html(self)

    def __rich_console__(self, console: Any, options: Any) -> Iterable[Any]:
        """On a Rich console: the CLI's tables, fitted to the console's width as the CLI fits them."""
        from netstat.render.notebook import renderables

        yield from renderables(self, options.max_width)

    def summary(self) -> str:
        """One line: what the result is and its headline numbers (also `repr` and `str`)."""
        from netstat.render.notebook import summary

        return summary(self)


def data_frame(rows: Iterable[dict[str, Any]], columns: list[str] | None = None):
    """A pandas DataFrame of `rows` (dicts of one JSON document: the same
    keys and values as `to_dict()`), or a UsageError naming the extra to
    install when pandas is missing."""
    try:
        import pandas
    except ImportError:
        from netstat.errors import UsageError

        raise UsageError(PANDAS_MISSING) from None
    return pandas.DataFrame.from_records(list(rows), columns=columns)
