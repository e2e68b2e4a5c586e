from django.urls import path

from disputes.api.views import DisputeList, RefundList

urlpatterns = [
    path("refunds", RefundList.as_view(), name="api-refunds"),
    path("disputes", DisputeList.as_view(), name="api-disputes"),
]
