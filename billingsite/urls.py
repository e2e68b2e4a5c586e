from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from billingsite import observability
from billingsite.home import home

handler404 = "billingsite.errors.handler404"
handler500 = "billingsite.errors.handler500"

urlpatterns = [
    path("", home, name="home"),
    # Back-office pages outside the ModelAdmins (Customer 360, search, Explain this charge),
    # ahead of the admin so its catch-all object URLs do not shadow them.
    path("admin/accounts/customer/", include("accounts.customer360.urls")),
    path("admin/invoicing/", include("invoicing.backoffice.urls")),
    path("admin/reporting/", include("reporting.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("billingsite.api.urls")),
    path("compat/", include("metering.compat.urls")),
    path("usage/", include("accounts.portal.urls")),
    path("usage/", include("invoicing.usage_pages.urls")),
    path("webhooks/stripe/", include("invoicing.stripe.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("healthz", observability.healthz, name="healthz"),
    path("readyz", observability.readyz, name="readyz"),
    path("metrics", observability.metrics, name="metrics"),
]
