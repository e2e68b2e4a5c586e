"""/api/v1/: each app contributes its own routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("accounts.api.urls")),
    path("", include("metering.api.urls")),
    path("", include("invoicing.api.urls")),
    path("", include("disputes.api.urls")),
    path("", include("billingsite.webhooks.api.urls")),
    path("", include("reporting.api.urls")),
    path("", include("revenue.api.urls")),
]
