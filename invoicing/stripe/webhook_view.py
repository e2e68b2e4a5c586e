"""``POST /webhooks/stripe/``: verify, store the raw event, answer 200 (duplicates too).

Processing happens in a task after commit, so Stripe gets its answer fast and a slow or failing
handler never makes Stripe retry a delivery we already hold. A bad signature or an old timestamp
answers 400 and stores nothing.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billingsite.errors import AppError, error_response
from invoicing.stripe.inbox import webhook_receive


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    try:
        row, created = webhook_receive(
            body=request.body, signature=request.headers.get("Stripe-Signature")
        )
    except AppError as exc:
        return error_response(exc.status_code, exc.code, exc.message, exc.details)
    return JsonResponse({"received": True, "id": row.stripe_id, "duplicate": not created})
