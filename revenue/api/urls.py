from django.urls import path

from revenue.api.views import MonthCloseView

urlpatterns = [
    path("reports/month-close", MonthCloseView.as_view(), name="api-month-close"),
]
