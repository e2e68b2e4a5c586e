from django.urls import path

from reporting.api.views import ExportDatasetList, ExportDatasetRows

urlpatterns = [
    path("exports", ExportDatasetList.as_view(), name="api-exports"),
    path("exports/<str:dataset>", ExportDatasetRows.as_view(), name="api-export"),
]
