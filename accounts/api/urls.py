from django.urls import path

from accounts.api import views
from accounts.portal.api import UsageLinkCreate

urlpatterns = [
    path("customers", views.CustomerListCreate.as_view(), name="customer-list"),
    path("customers/<str:external_id>", views.CustomerDetail.as_view(), name="customer-detail"),
    path(
        "customers/<str:external_id>/aliases",
        views.CustomerAliasCreate.as_view(),
        name="customer-aliases",
    ),
    path(
        "customers/<str:external_id>/usage-links",
        UsageLinkCreate.as_view(),
        name="customer-usage-links",
    ),
]
