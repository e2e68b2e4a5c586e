from django.urls import path

from invoicing.entitlements.api import views

CUSTOMER = "customers/<str:external_id>/"

urlpatterns = [
    path("features", views.FeatureListCreate.as_view(), name="feature-list"),
    path(
        f"{CUSTOMER}entitlements",
        views.CustomerEntitlements.as_view(),
        name="customer-entitlements",
    ),
    path(f"{CUSTOMER}check", views.Check.as_view(), name="customer-check"),
    path(f"{CUSTOMER}consume", views.Consume.as_view(), name="customer-consume"),
    path(f"{CUSTOMER}reservations", views.Reservations.as_view(), name="customer-reservations"),
    path(
        f"{CUSTOMER}reservations/<str:reservation>/commit",
        views.ReservationCommit.as_view(),
        name="customer-reservation-commit",
    ),
    path(
        f"{CUSTOMER}reservations/<str:reservation>/release",
        views.ReservationRelease.as_view(),
        name="customer-reservation-release",
    ),
]
