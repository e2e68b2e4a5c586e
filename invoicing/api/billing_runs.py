"""Billing runs through the API: start one (``202`` with its id; Celery bills it), list them,
read one. Starting needs scope ``admin`` and a creator holding ``invoicing.add_billingrun``;
reading needs ``read``. A customer-bound key sees no runs (they span every customer).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.acting import api_actor_with
from accounts.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from accounts.models import ApiKeyScope
from billingsite.api.pagination import page_of
from billingsite.api.permissions import refuse_bound_key
from billingsite.errors import NotFound
from invoicing.models import BillingRun, BillingRunTrigger
from invoicing.services.billing_runs import MAX_CONTRACTS, billing_run_create
from invoicing.tasks import billing_run_task

START = "invoicing.add_billingrun"


class BillingRunBody(serializers.Serializer):
    as_of = serializers.DateTimeField(
        required=False, help_text="Bill what had ended by then (default now; never future)."
    )
    contracts = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_empty=False,
        max_length=MAX_CONTRACTS,
        help_text="Contract ids; omit for every contract due.",
    )


def run_data(run: BillingRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "status": run.status,
        "trigger": run.trigger,
        "as_of": run.as_of,
        "contracts": run.contract_ids,
        "created_by": run.created_by.get_username() if run.created_by else None,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "counts": {
            "contracts": run.contracts_total,
            "contracts_done": run.contracts_done,
            "drafted": run.drafted,
            "refreshed": run.refreshed,
            "finalized": run.finalized,
            "failed": run.failed,
        },
        "errors": [
            {
                **error,
                "contract_url": reverse("contract-detail", args=[error["contract"]]),
                "admin_url": reverse("admin:invoicing_contract_change", args=[error["contract"]]),
            }
            for error in run.errors
        ],
    }


def _runs() -> Any:
    return BillingRun.objects.select_related("created_by")


class BillingRunListCreate(GenericAPIView):
    read_scope = ApiKeyScope.READ

    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="Billing runs, newest first",
        operation_id="v1_billing_runs_list",
    )
    def get(self, request: Request) -> Response:
        refuse_bound_key(request, "see or start billing runs (they span every customer)")
        page = page_of(self, _runs().order_by("-created_at", "-pk"))
        return self.get_paginated_response([run_data(run) for run in page])

    @extend_schema(
        request=BillingRunBody,
        responses={202: OpenApiTypes.OBJECT},
        parameters=[IDEMPOTENCY_PARAMETER],
        summary="Start a billing run (as of a time, over some contracts); answers its id",
    )
    def post(self, request: Request) -> Response:
        actor = api_actor_with(request, START)
        body = BillingRunBody(data=request.data)
        body.is_valid(raise_exception=True)
        values = body.validated_data

        def start() -> Response:
            run = billing_run_create(
                trigger=BillingRunTrigger.API,
                as_of=values.get("as_of"),
                contract_ids=values.get("contracts"),
                actor=actor,
            )
            transaction.on_commit(lambda: billing_run_task.delay(run.pk))
            return Response(run_data(run), status=status.HTTP_202_ACCEPTED)

        with transaction.atomic():
            return idempotent(request, start)


class BillingRunDetail(GenericAPIView):
    read_scope = ApiKeyScope.READ

    @extend_schema(responses=OpenApiTypes.OBJECT, summary="A billing run and what it did")
    def get(self, request: Request, run_id: int) -> Response:
        refuse_bound_key(request, "see or start billing runs (they span every customer)")
        run = _runs().filter(pk=run_id).first()
        if run is None:
            raise NotFound(f"No billing run {run_id}.")
        return Response(run_data(run))
