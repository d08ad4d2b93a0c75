"""The report: facts read from the database, read out in plain words, as a page and as rows.

- :mod:`taiex.report.facts`: every fact the page and ``taiex status`` show, gathered from the
  store as plain values; each champion's reading comes from its kind's decision rule.
- :mod:`taiex.report.status`: the facts as (label, value) text rows for ``taiex status``.
- :mod:`taiex.report.page`: the plots and the self-contained HTML page.

Only :mod:`~taiex.report.page` imports matplotlib (through :mod:`taiex.plots`); none of them
imports model code, so ``taiex status`` stays light.
"""
