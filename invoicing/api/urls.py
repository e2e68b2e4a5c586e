from django.urls import include, path

from invoicing.alerts import api as alerts
from invoicing.api import (
    billing_runs,
    catalog_views,
    collections_views,
    contracts,
    corrections,
    credit_grants,
    credit_purchases,
    views,
)

urlpatterns = [
    path("alerts", alerts.AlertListCreate.as_view(), name="alert-list"),
    path("alerts/<int:alert_id>", alerts.AlertDetail.as_view(), name="alert-detail"),
    path(
        "alerts/<int:alert_id>/triggers",
        alerts.AlertTriggerList.as_view(),
        name="alert-triggers",
    ),
    path("", include("invoicing.entitlements.api.urls")),
    path("pricing/preview", views.PricingPreview.as_view(), name="pricing-preview"),
    path("plans", catalog_views.PlanListCreate.as_view(), name="plan-list"),
    path("contracts", catalog_views.ContractListCreate.as_view(), name="contract-list"),
    path("contracts/<int:contract_id>", contracts.ContractDetail.as_view(), name="contract-detail"),
    path("contracts/<int:contract_id>/end", contracts.ContractEnd.as_view(), name="contract-end"),
    path(
        "contracts/<int:contract_id>/amendments",
        contracts.ContractAmendments.as_view(),
        name="contract-amendments",
    ),
    path(
        "customers/<str:external_id>/credit-grants",
        credit_grants.CustomerCreditGrants.as_view(),
        name="customer-credit-grants",
    ),
    path(
        "customers/<str:external_id>/credit-grants/<int:grant_id>/void",
        credit_grants.CreditGrantVoid.as_view(),
        name="customer-credit-grant-void",
    ),
    path(
        "customers/<str:external_id>/credit-purchases",
        credit_purchases.CustomerCreditPurchases.as_view(),
        name="customer-credit-purchases",
    ),
    path(
        "customers/<str:external_id>/auto-recharge",
        credit_purchases.CustomerAutoRecharge.as_view(),
        name="customer-auto-recharge",
    ),
    path("billing-runs", billing_runs.BillingRunListCreate.as_view(), name="billing-run-list"),
    path(
        "billing-runs/<int:run_id>",
        billing_runs.BillingRunDetail.as_view(),
        name="billing-run-detail",
    ),
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
    path("tax-rates", collections_views.TaxRateListCreate.as_view(), name="tax-rate-list"),
    path("reports/ar-aging", collections_views.ArAgingReport.as_view(), name="report-ar-aging"),
    path("credit-notes", corrections.CreditNoteList.as_view(), name="credit-note-list"),
    path(
        "credit-notes/<str:number>",
        corrections.CreditNoteDetail.as_view(),
        name="credit-note-detail",
    ),
]
