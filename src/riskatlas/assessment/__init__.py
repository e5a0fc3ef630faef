"""The assessment pipeline, beneath the Python API: gather every analysis a report needs
over one :class:`~riskatlas.analysis.scope.Scope`, advise and find peers, and return a
plain :class:`~riskatlas.assessment.value.Assessment` that ``report/`` (HTML, PDF, CSV,
XLSX), the web pages and the CLI only render.

- :mod:`.value`: the :class:`Assessment` dataclass and the metrics a report shows;
- :mod:`.pipeline`: :func:`~.pipeline.assess` and the parts the web pages use (one unit,
  a screen, the advice of a scope), over :class:`riskatlas.analyses.Analyses`;
- :mod:`.text`: wording shared by the views (a screened unit's drivers).

The package's own import is empty: the CLI imports :mod:`.text` without pandas.
"""
