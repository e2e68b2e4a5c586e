"""Mounted at ``/admin/reporting/`` ahead of the admin's own URLs (billingsite.urls)."""

from django.contrib import admin
from django.urls import path

from reporting.finance.views import finance_dashboard

urlpatterns = [
    path("finance/", admin.site.admin_view(finance_dashboard), name="finance-dashboard"),
]
