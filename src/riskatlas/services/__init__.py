"""Domain services beneath the CLI and the web app: accounts (users, roles, API tokens,
sessions) and data cards (create, edit, the approval workflow, uploads' bookkeeping,
review decisions, the audit log).

Each operation takes the :class:`~riskatlas.store.store.Store` and writes its change and
its audit row in one :meth:`~riskatlas.store.store.Store.transaction`; the views (``cli/``,
``web/``) parse, check roles of the request and render, and hold no SQL.
"""
