from django.urls import include, path

from invoicing.api import catalog_views, corrections, views

urlpatterns = [
    path("", include("invoicing.entitlements.api.urls")),
    path("pricing/preview", views.PricingPreview.as_view(), name="pricing-preview"),
    path("plans", catalog_views.PlanListCreate.as_view(), name="plan-list"),
    path("contracts", catalog_views.ContractListCreate.as_view(), name="contract-list"),
    path(
        "customers/<str:external_id>/invoices",
        views.CustomerInvoiceList.as_view(),
        name="customer-invoices",
    ),
    path(
        "customers/<str:external_id>/invoices/upcoming",
        views.UpcomingInvoice.as_view(),
        name="customer-invoice-upcoming",
    ),
    path(
        "customers/<str:external_id>/credits",
        views.CustomerCredits.as_view(),
        name="customer-credits",
    ),
    path("invoices/<str:number>", views.InvoiceDetail.as_view(), name="invoice-detail"),
    path(
        "invoices/<str:number>/credit-notes",
        corrections.InvoiceCreditNoteCreate.as_view(),
        name="invoice-credit-notes",
    ),
    path("invoices/<str:number>/void", corrections.InvoiceVoid.as_view(), name="invoice-void"),
    path(
        "invoices/<str:number>/reissue",
        corrections.InvoiceReissue.as_view(),
        name="invoice-reissue",
    ),
    path("credit-notes", corrections.CreditNoteList.as_view(), name="credit-note-list"),
    path(
        "credit-notes/<str:number>",
        corrections.CreditNoteDetail.as_view(),
        name="credit-note-detail",
    ),
]
