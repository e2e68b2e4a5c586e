"""The customers' usage pages (``/usage/``): overview, meter detail with CSV, invoices, PDFs.

Access comes from ``accounts.portal`` (a signed-in customer user or a signed link); every read
here is scoped to ``viewer.customer``. Costs come from the code that bills: the upcoming
invoice is ``invoicing.selectors.invoices.compute_for_period`` over metering's usage selector,
and issued invoices are shown from their stored lines, so the pages equal the invoice to the
cent. Modules: ``selectors`` (reads), ``presenters`` (display strings, line explanations),
``views``/``urls`` (thin pages), ``charts`` (chart/table data).
"""
