from django.urls import path

from billingsite.webhooks.api import views

urlpatterns = [
    path(
        "webhook-endpoints",
        views.WebhookEndpointListCreate.as_view(),
        name="webhook-endpoint-list",
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>",
        views.WebhookEndpointDetail.as_view(),
        name="webhook-endpoint-detail",
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>/replay",
        views.WebhookEndpointReplay.as_view(),
        name="webhook-endpoint-replay",
    ),
    path(
        "webhook-endpoints/<int:endpoint_id>/rotate-secret",
        views.WebhookEndpointRotateSecret.as_view(),
        name="webhook-endpoint-rotate-secret",
    ),
]
