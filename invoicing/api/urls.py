from django.urls import path

from invoicing.api import catalog_views, views

urlpatterns = [
    path("pricing/preview", views.PricingPreview.as_view(), name="pricing-preview"),
    path("plans", catalog_views.PlanListCreate.as_view(), name="plan-list"),
    path("contracts", catalog_views.ContractListCreate.as_view(), name="contract-list"),
    path("customers/<str:external_id>/invoices", views.CustomerInvoiceList.as_view(),
         name="customer-invoices"),
    path("customers/<str:external_id>/invoices/upcoming", views.UpcomingInvoice.as_view(),
         name="customer-invoice-upcoming"),
    path("customers/<str:external_id>/credits", views.CustomerCredits.as_view(),
         name="customer-credits"),
    path("invoices/<str:number>", views.InvoiceDetail.as_view(), name="invoice-detail"),
]
