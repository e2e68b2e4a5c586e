"""The one module that talks to Stripe (DESIGN.md section 6). Nothing else imports ``stripe``.

Invariants this module keeps:

- Every call that creates or changes something on Stripe (every POST) takes a required
  ``idempotency_key`` built from our own rows (``idempotency_key("refund", refund.pk)`` ->
  ``"refund:42"``). Stripe replays the saved answer for a repeated key, so the outbox can resend
  the same row after a timeout without creating a second object. An update whose parameters
  change between attempts needs a new key (Stripe rejects a reused key with other parameters):
  include the outbox row id or a version in it.
- The SDK never retries by itself (``max_network_retries=0``); the outbox owns retries and
  backoff. Each failure is raised as one ``StripeGatewayError`` whose ``retryable`` flag says
  whether sending the same request again may succeed.
- The API version is pinned (``settings.STRIPE_API_VERSION``), connect/read timeouts are bounded,
  the API key comes from settings (the environment) and is never logged or shown in a repr.
- ``STRIPE_API_BASE`` (empty = real Stripe) points every Stripe host at a fake server in tests.
- No call runs inside a database transaction (``assert_no_transaction``): Stripe could act on a
  request whose transaction then rolls back, leaving an object we have no record of.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal, TypeVar

import stripe
from stripe.params import DisputeUpdateParamsEvidence

from billingsite.outbox.guard import assert_no_transaction
from invoicing.stripe import errors
from invoicing.stripe.config import GatewayConfig
from invoicing.stripe.errors import StripeGatewayError
from invoicing.stripe.keys import checked_key
from invoicing.stripe.metrics import record_call
from invoicing.stripe.params import decimal_string, timestamp, without_none

logger = logging.getLogger(__name__)

T = TypeVar("T")
Metadata = Mapping[str, str]
CollectionMethod = Literal["charge_automatically", "send_invoice"]
RefundReason = Literal["duplicate", "fraudulent", "requested_by_customer"]

EVIDENCE_FIELDS = frozenset(DisputeUpdateParamsEvidence.__annotations__)
LIST_PAGE_SIZE = 100


def build_client(
    config: GatewayConfig, http_client: stripe.HTTPClient | None = None
) -> stripe.StripeClient:
    """A ``StripeClient`` with our version, timeouts, base address and no SDK retries."""
    if http_client is None:
        http_client = stripe.RequestsClient(timeout=(config.connect_timeout, config.read_timeout))
    bases: dict[str, str] = {}
    if config.api_base:
        # Every host, so that file uploads and connect calls cannot escape to the real Stripe.
        bases = {name: config.api_base for name in ("api", "files", "connect", "meter_events")}
    return stripe.StripeClient(
        config.api_key,
        stripe_version=config.api_version or None,
        base_addresses=bases,  # type: ignore[arg-type]
        max_network_retries=0,
        http_client=http_client,
    )


def map_stripe_error(exc: stripe.StripeError) -> StripeGatewayError:
    """Translate an SDK exception into our error type; see ``StripeGatewayError`` for the rules."""
    status = exc.http_status
    body = exc.json_body.get("error") if isinstance(exc.json_body, dict) else None
    body = body if isinstance(body, dict) else {}
    stripe_code = exc.code or body.get("code")
    decline_code = body.get("decline_code")
    message = exc.user_message or type(exc).__name__
    code, retryable = _classify(exc, status)
    should_retry = {k.lower(): v for k, v in (exc.headers or {}).items()}.get("stripe-should-retry")
    if status is not None and should_retry in ("true", "false"):
        retryable = should_retry == "true"
    return StripeGatewayError(
        code,
        message,
        retryable=retryable,
        http_status=status,
        stripe_code=stripe_code,
        decline_code=decline_code,
        request_id=exc.request_id,
    )


def _classify(exc: stripe.StripeError, status: int | None) -> tuple[str, bool]:
    if isinstance(exc, stripe.APIConnectionError):
        # Timeouts and refused connections say should_retry=True; TLS failures do not.
        return errors.CONNECTION_ERROR, bool(exc.should_retry)
    if isinstance(exc, stripe.RateLimitError) or status == 429:
        return errors.RATE_LIMITED, True
    if isinstance(exc, stripe.CardError):
        return errors.CARD_ERROR, False
    if isinstance(exc, stripe.IdempotencyError):
        return errors.IDEMPOTENCY_ERROR, False
    if isinstance(exc, stripe.AuthenticationError):
        return errors.AUTHENTICATION_ERROR, False
    if isinstance(exc, stripe.PermissionError):
        return errors.PERMISSION_ERROR, False
    if status == 404:
        return errors.NOT_FOUND, False
    if isinstance(exc, stripe.InvalidRequestError):
        return errors.INVALID_REQUEST, False
    if status == 409:
        # Another request with the same idempotency key is still running, or a lock timed out.
        return errors.CONFLICT, True
    if status is not None and status >= 500:
        return errors.SERVER_ERROR, True
    return errors.UNKNOWN_ERROR, False


_END = object()


@contextmanager
def _mapped_errors(operation: str, key: str | None) -> Iterator[None]:
    """Re-raise any SDK failure as ``StripeGatewayError`` and log it (never params or the key)."""
    try:
        yield
    except stripe.StripeError as exc:
        error = map_stripe_error(exc)
        logger.warning(
            "stripe call failed",
            extra={
                "stripe_operation": operation,
                "idempotency_key": key,
                "error_code": error.code,
                **error.as_details(),
            },
        )
        raise error from exc


class StripeGateway:
    """Typed, small calls Tally makes to Stripe. Amounts are integers in the minor unit."""

    def __init__(
        self, config: GatewayConfig, *, http_client: stripe.HTTPClient | None = None
    ) -> None:
        self.config = config
        self._client = build_client(config, http_client)

    def __repr__(self) -> str:
        return f"StripeGateway(api_base={self.config.api_base or stripe.DEFAULT_API_BASE!r})"

    @property
    def v1(self) -> Any:
        return self._client.v1

    def _call(
        self,
        operation: str,
        send: Callable[[dict[str, Any]], T],
        *,
        key: str | None = None,
        write: bool = False,
    ) -> T:
        """Run one SDK call; map its failure. ``write`` calls must carry an idempotency key."""
        assert_no_transaction(f"Stripe call {operation}")
        options: dict[str, Any] = {}
        if write:
            options["idempotency_key"] = checked_key(key)
        started = time.monotonic()
        try:
            with _mapped_errors(operation, key):
                result = send(options)
        except StripeGatewayError as error:
            record_call(operation, error.code, time.monotonic() - started)
            raise
        elapsed = time.monotonic() - started
        record_call(operation, "ok", elapsed)
        logger.info(
            "stripe call",
            extra={
                "stripe_operation": operation,
                "idempotency_key": key,
                "duration_ms": round(elapsed * 1000),
            },
        )
        return result

    def _paginate(self, operation: str, send: Callable[[dict[str, Any]], Any]) -> Iterator[Any]:
        """Every item of a list call, following Stripe's pages; later pages map errors too."""
        iterator = iter(self._call(operation, send).auto_paging_iter())
        while True:
            with _mapped_errors(operation, None):
                item = next(iterator, _END)
            if item is _END:
                return
            yield item

    # --- customers and payment methods -------------------------------------------------------

    def customer_create(
        self,
        *,
        idempotency_key: str,
        email: str | None = None,
        name: str = "",
        metadata: Metadata | None = None,
    ) -> stripe.Customer:
        params = without_none({"email": email, "name": name or None, "metadata": metadata})
        return self._call(
            "customer_create",
            lambda o: self.v1.customers.create(params, o),
            key=idempotency_key,
            write=True,
        )

    def customer_update(
        self,
        customer_id: str,
        *,
        idempotency_key: str,
        email: str | None = None,
        name: str | None = None,
        metadata: Metadata | None = None,
    ) -> stripe.Customer:
        params = without_none({"email": email, "name": name, "metadata": metadata})
        return self._call(
            "customer_update",
            lambda o: self.v1.customers.update(customer_id, params, o),
            key=idempotency_key,
            write=True,
        )

    def customer_retrieve(self, customer_id: str) -> stripe.Customer:
        return self._call(
            "customer_retrieve", lambda o: self.v1.customers.retrieve(customer_id, None, o)
        )

    def customer_default_payment_method_set(
        self, customer_id: str, payment_method_id: str, *, idempotency_key: str
    ) -> stripe.Customer:
        params = {"invoice_settings": {"default_payment_method": payment_method_id}}
        return self._call(
            "customer_default_payment_method_set",
            lambda o: self.v1.customers.update(customer_id, params, o),
            key=idempotency_key,
            write=True,
        )

    def customer_default_payment_method(self, customer_id: str) -> str | None:
        """The id of the customer's default payment method for invoices, or None."""
        customer = self.customer_retrieve(customer_id)
        invoice_settings = customer["invoice_settings"] if "invoice_settings" in customer else None
        if not invoice_settings or "default_payment_method" not in invoice_settings:
            return None
        default = invoice_settings["default_payment_method"]
        if isinstance(default, stripe.StripeObject):  # expanded
            return str(default["id"])
        return str(default) if default else None

    def payment_methods_list(
        self, customer_id: str, *, payment_method_type: str = "card"
    ) -> list[stripe.PaymentMethod]:
        params = {"customer": customer_id, "type": payment_method_type, "limit": LIST_PAGE_SIZE}
        return list(
            self._paginate(
                "payment_methods_list", lambda o: self.v1.payment_methods.list(params, o)
            )
        )

    def payment_method_attach(
        self, payment_method_id: str, customer_id: str, *, idempotency_key: str
    ) -> stripe.PaymentMethod:
        params = {"customer": customer_id}
        return self._call(
            "payment_method_attach",
            lambda o: self.v1.payment_methods.attach(payment_method_id, params, o),
            key=idempotency_key,
            write=True,
        )

    def billing_portal_session_create(
        self, customer_id: str, *, return_url: str, idempotency_key: str
    ) -> stripe.billing_portal.Session:
        """A Billing portal link that opens straight on "update payment method"."""
        params = {
            "customer": customer_id,
            "return_url": return_url,
            "flow_data": {"type": "payment_method_update"},
        }
        return self._call(
            "billing_portal_session_create",
            lambda o: self.v1.billing_portal.sessions.create(params, o),
            key=idempotency_key,
            write=True,
        )

    def checkout_setup_session_create(
        self,
        customer_id: str,
        *,
        currency: str,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> stripe.checkout.Session:
        """A Checkout session in setup mode: collects a payment method without charging."""
        params = {
            "mode": "setup",
            "customer": customer_id,
            "currency": currency.lower(),
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        return self._call(
            "checkout_setup_session_create",
            lambda o: self.v1.checkout.sessions.create(params, o),
            key=idempotency_key,
            write=True,
        )

    # --- invoices ------------------------------------------------------------------------------

    def invoice_create(
        self,
        customer_id: str,
        *,
        currency: str,
        collection_method: CollectionMethod,
        idempotency_key: str,
        days_until_due: int | None = None,
        description: str | None = None,
        metadata: Metadata | None = None,
    ) -> stripe.Invoice:
        """A draft invoice that picks up only the items created for it (never pending ones)."""
        if (collection_method == "send_invoice") != (days_until_due is not None):
            raise ValueError("days_until_due is required for, and only for, send_invoice")
        params = without_none(
            {
                "customer": customer_id,
                "currency": currency.lower(),
                "collection_method": collection_method,
                "days_until_due": days_until_due,
                "auto_advance": False,
                "pending_invoice_items_behavior": "exclude",
                "description": description,
                "metadata": metadata,
            }
        )
        return self._call(
            "invoice_create",
            lambda o: self.v1.invoices.create(params, o),
            key=idempotency_key,
            write=True,
        )

    def invoice_item_create(
        self,
        customer_id: str,
        invoice_id: str,
        *,
        currency: str,
        description: str,
        idempotency_key: str,
        amount: int | None = None,
        unit_amount_decimal: Decimal | None = None,
        quantity: int | None = None,
        period: tuple[datetime, datetime] | None = None,
        metadata: Metadata | None = None,
    ) -> stripe.InvoiceItem:
        """One invoice line: either ``amount`` (minor units) or ``unit_amount_decimal`` (minor
        units, up to 12 decimals) with an integer ``quantity``."""
        if (amount is None) == (unit_amount_decimal is None):
            raise ValueError("give either amount or unit_amount_decimal")
        if amount is not None and (not isinstance(amount, int) or isinstance(amount, bool)):
            raise TypeError("amount is an int in the currency's minor unit")
        params = without_none(
            {
                "customer": customer_id,
                "invoice": invoice_id,
                "currency": currency.lower(),
                "description": description,
                "amount": amount,
                "quantity": quantity,
                "unit_amount_decimal": (
                    None if unit_amount_decimal is None else decimal_string(unit_amount_decimal)
                ),
                "period": (
                    None
                    if period is None
                    else {"start": timestamp(period[0]), "end": timestamp(period[1])}
                ),
                "metadata": metadata,
            }
        )
        return self._call(
            "invoice_item_create",
            lambda o: self.v1.invoice_items.create(params, o),
            key=idempotency_key,
            write=True,
        )

    def invoice_finalize(self, invoice_id: str, *, idempotency_key: str) -> stripe.Invoice:
        params = {"auto_advance": False}
        return self._call(
            "invoice_finalize",
            lambda o: self.v1.invoices.finalize_invoice(invoice_id, params, o),
            key=idempotency_key,
            write=True,
        )

    def invoice_pay(self, invoice_id: str, *, idempotency_key: str) -> stripe.Invoice:
        return self._call(
            "invoice_pay",
            lambda o: self.v1.invoices.pay(invoice_id, None, o),
            key=idempotency_key,
            write=True,
        )

    def invoice_send(self, invoice_id: str, *, idempotency_key: str) -> stripe.Invoice:
        return self._call(
            "invoice_send",
            lambda o: self.v1.invoices.send_invoice(invoice_id, None, o),
            key=idempotency_key,
            write=True,
        )

    def invoice_void(self, invoice_id: str, *, idempotency_key: str) -> stripe.Invoice:
        return self._call(
            "invoice_void",
            lambda o: self.v1.invoices.void_invoice(invoice_id, None, o),
            key=idempotency_key,
            write=True,
        )

    def invoice_retrieve(self, invoice_id: str) -> stripe.Invoice:
        return self._call(
            "invoice_retrieve", lambda o: self.v1.invoices.retrieve(invoice_id, None, o)
        )

    # --- payments, refunds, disputes -----------------------------------------------------------

    def payment_intent_create(
        self,
        customer_id: str,
        *,
        amount: int,
        currency: str,
        payment_method_id: str,
        idempotency_key: str,
        metadata: Metadata | None = None,
    ) -> stripe.PaymentIntent:
        """Charge a saved payment method now (off-session, confirmed in the same call)."""
        params = without_none(
            {
                "customer": customer_id,
                "amount": amount,
                "currency": currency.lower(),
                "payment_method": payment_method_id,
                "confirm": True,
                "off_session": True,
                "metadata": metadata,
            }
        )
        return self._call(
            "payment_intent_create",
            lambda o: self.v1.payment_intents.create(params, o),
            key=idempotency_key,
            write=True,
        )

    def payment_intent_retrieve(self, payment_intent_id: str) -> stripe.PaymentIntent:
        return self._call(
            "payment_intent_retrieve",
            lambda o: self.v1.payment_intents.retrieve(payment_intent_id, None, o),
        )

    def charge_retrieve(self, charge_id: str) -> stripe.Charge:
        return self._call("charge_retrieve", lambda o: self.v1.charges.retrieve(charge_id, None, o))

    def refund_create(
        self,
        *,
        idempotency_key: str,
        payment_intent_id: str | None = None,
        charge_id: str | None = None,
        amount: int | None = None,
        reason: RefundReason | None = None,
        metadata: Metadata | None = None,
    ) -> stripe.Refund:
        """Refund ``amount`` (minor units; None = whatever is left) of one payment."""
        if (payment_intent_id is None) == (charge_id is None):
            raise ValueError("give exactly one of payment_intent_id and charge_id")
        params = without_none(
            {
                "payment_intent": payment_intent_id,
                "charge": charge_id,
                "amount": amount,
                "reason": reason,
                "metadata": metadata,
            }
        )
        return self._call(
            "refund_create",
            lambda o: self.v1.refunds.create(params, o),
            key=idempotency_key,
            write=True,
        )

    def refund_retrieve(self, refund_id: str) -> stripe.Refund:
        return self._call("refund_retrieve", lambda o: self.v1.refunds.retrieve(refund_id, None, o))

    def dispute_retrieve(self, dispute_id: str) -> stripe.Dispute:
        return self._call(
            "dispute_retrieve", lambda o: self.v1.disputes.retrieve(dispute_id, None, o)
        )

    def dispute_update(
        self,
        dispute_id: str,
        *,
        evidence: Mapping[str, Any],
        submit: bool,
        idempotency_key: str,
        metadata: Metadata | None = None,
    ) -> stripe.Dispute:
        """Save evidence (``submit=False``: stays editable) or submit it (final, once)."""
        unknown = set(evidence) - EVIDENCE_FIELDS
        if unknown:
            raise ValueError(f"unknown dispute evidence fields: {sorted(unknown)}")
        params = without_none({"evidence": dict(evidence), "submit": submit, "metadata": metadata})
        return self._call(
            "dispute_update",
            lambda o: self.v1.disputes.update(dispute_id, params, o),
            key=idempotency_key,
            write=True,
        )

    def file_create(
        self,
        content: bytes,
        *,
        filename: str,
        idempotency_key: str,
        purpose: Literal["dispute_evidence"] = "dispute_evidence",
    ) -> stripe.File:
        """Upload a document (an invoice PDF, a usage summary) to cite as dispute evidence."""
        upload = io.BytesIO(content)
        upload.name = filename
        params = {"file": upload, "purpose": purpose}
        return self._call(
            "file_create",
            lambda o: self.v1.files.create(params, o),
            key=idempotency_key,
            write=True,
        )

    # --- reconciliation ------------------------------------------------------------------------

    def _list_created(
        self,
        operation: str,
        service: Any,
        start: datetime,
        end: datetime,
    ) -> Iterator[Any]:
        """Every object created in ``[start, end)``, following Stripe's pagination."""
        params = {
            "created": {"gte": timestamp(start), "lt": timestamp(end)},
            "limit": LIST_PAGE_SIZE,
        }
        return self._paginate(operation, lambda o: service.list(params, o))

    def invoices_list(self, start: datetime, end: datetime) -> Iterator[stripe.Invoice]:
        return self._list_created("invoices_list", self.v1.invoices, start, end)

    def charges_list(self, start: datetime, end: datetime) -> Iterator[stripe.Charge]:
        return self._list_created("charges_list", self.v1.charges, start, end)

    def refunds_list(self, start: datetime, end: datetime) -> Iterator[stripe.Refund]:
        return self._list_created("refunds_list", self.v1.refunds, start, end)

    def disputes_list(self, start: datetime, end: datetime) -> Iterator[stripe.Dispute]:
        return self._list_created("disputes_list", self.v1.disputes, start, end)


@lru_cache(maxsize=4)
def _gateway_for(config: GatewayConfig) -> StripeGateway:
    return StripeGateway(config)


def default_gateway() -> StripeGateway:
    """The gateway configured from settings (one per distinct configuration, reused)."""
    return _gateway_for(GatewayConfig.from_settings())
