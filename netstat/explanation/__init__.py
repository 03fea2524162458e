"""`netstat explain MODEL VALUE`: which convention, variant and input reproduce a quoted figure.

    netstat.explain("resnet50", "3.8G").matches[0].sentence()

`value` reads a quoted figure and its precision, `space` the builds it
traces (variants, classes, inputs, batch), `conventions` the ways of counting
tried on each, `search` the ranking and the result. See docs/explain.md.

The package is `netstat.explanation`, not `netstat.explain`: importing a
submodule sets it as an attribute of its parent package, which would hide
the function `netstat.explain` behind a module of the same name.
"""

from netstat.explanation.search import Candidate, Explanation, explain
from netstat.explanation.value import Quoted, parse_value

__all__ = ["Candidate", "Explanation", "Quoted", "explain", "parse_value"]
