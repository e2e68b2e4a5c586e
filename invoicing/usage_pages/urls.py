"""Mounted at ``/usage/`` (namespace ``usage``). Every page exists twice: for a signed-in
customer user (``/usage/...``) and under a signed link (``/usage/l/<token>/...``); the same
name reverses to either, depending on whether ``token`` is given."""

from django.urls import include, path

from invoicing.usage_pages import alerts, credits, views

app_name = "usage"

pages = [
    path("", views.overview, name="overview"),
    path("meters/<str:meter_key>/", views.meter_detail, name="meter"),
    path("meters/<str:meter_key>/export.csv", views.meter_export, name="meter-export"),
    path("invoices/", views.invoice_list, name="invoices"),
    path("invoices/<str:number>/", views.invoice_detail, name="invoice"),
    path("invoices/<str:number>/pdf", views.invoice_pdf, name="invoice-pdf"),
    path(
        "invoices/<str:number>/credit-notes/<str:note>/pdf",
        views.credit_note_pdf,
        name="credit-note-pdf",
    ),
    path("credits/", credits.credits_page, name="credits"),
    path("alerts/", alerts.alerts_page, name="alerts"),
    path("alerts/<int:alert_id>/delete", alerts.alert_remove, name="alert-delete"),
]

urlpatterns = [
    *pages,
    path("l/<str:token>/", include(pages)),
]
