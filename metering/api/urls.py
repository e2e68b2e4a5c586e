from django.urls import path

from metering.api import event_status, views

urlpatterns = [
    path("events", views.Events.as_view(), name="events"),
    path("events/<path:event_id>/status", event_status.EventStatus.as_view(), name="event-status"),
    path("meters", views.MeterListCreate.as_view(), name="meter-list"),
    path("meters/<str:key>", views.MeterDetail.as_view(), name="meter-detail"),
    path("customers/<str:external_id>/usage", views.CustomerUsage.as_view(), name="customer-usage"),
]
