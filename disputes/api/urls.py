from django.urls import path

from disputes.api.refunds import RefundApprove, RefundReject
from disputes.api.views import DisputeList, RefundList

urlpatterns = [
    path("refunds", RefundList.as_view(), name="api-refunds"),
    path("refunds/<int:refund_id>/approve", RefundApprove.as_view(), name="api-refund-approve"),
    path("refunds/<int:refund_id>/reject", RefundReject.as_view(), name="api-refund-reject"),
    path("disputes", DisputeList.as_view(), name="api-disputes"),
]
