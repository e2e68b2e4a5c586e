"""Mounted at ``/admin/accounts/customer/`` ahead of the admin's own URLs (billingsite.urls)."""

from django.contrib import admin
from django.urls import path

from accounts.customer360 import views

urlpatterns = [
    path("search/", admin.site.admin_view(views.customer_search), name="customer-search"),
    path("<int:customer_id>/360/", admin.site.admin_view(views.customer_360), name="customer-360"),
    path(
        "<int:customer_id>/usage-link/",
        admin.site.admin_view(views.usage_link),
        name="customer-usage-link",
    ),
    path(
        "<int:customer_id>/open-usage-pages/",
        admin.site.admin_view(views.open_usage_pages),
        name="customer-open-usage-pages",
    ),
]
