"""Mounted at ``/admin/invoicing/`` ahead of the admin's own URLs (billingsite.urls)."""

from django.contrib import admin
from django.urls import path

from invoicing.backoffice.explain import explain_view

urlpatterns = [
    path(
        "invoiceline/<int:line_id>/explain/",
        admin.site.admin_view(explain_view),
        name="invoice-line-explain",
    ),
]
