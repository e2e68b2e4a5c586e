"""The usage pages: thin views over ``selectors`` and ``presenters``, wrapped by
``accounts.portal.access.usage_page`` (which supplies the one customer they may show)."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.portal.access import Viewer, usage_page
from billingsite.display import DASH
from billingsite.errors import AppError, NotFound
from billingsite.money import amount_of
from invoicing.entitlements.api.serializers import quantity
from invoicing.entitlements.selectors import entitlement_data, entitlements_for
from invoicing.services.invoice_pdfs import invoice_pdf_download
from invoicing.services.pdf import credit_note_pdf_render
from invoicing.usage_pages import selectors
from invoicing.usage_pages.charts import series_table
from invoicing.usage_pages.presenters import (
    explain_line,
    local_range,
    money,
    number,
    without_usage,
)
from invoicing.usage_pages.words import applied_as, forecast_quantity, note_reason
from metering.models import Meter
from metering.selectors import meter_units


def _page(
    request: HttpRequest, viewer: Viewer, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    context = {
        "viewer": viewer,
        "customer": viewer.customer,
        "base": viewer.base,
        "tz": viewer.customer.timezone,
        **context,
    }
    return render(request, f"usage/{template}", context, status=status)


def entitlement_rows(customer: Any) -> list[dict[str, Any]]:
    """The customer's granted features, as the entitlements API shows them."""
    at = timezone.now()
    rows = []
    for ent in entitlements_for(customer, at=at):
        if ent.source == "none":
            continue
        row = entitlement_data(customer, ent, at=at)
        for name in ("limit", "used", "reserved", "remaining"):
            row[name] = quantity(row[name])
        rows.append(row)
    return rows


@usage_page
def overview(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    customer = viewer.customer
    data = selectors.usage_overview(customer, at=timezone.now())
    if data is None:
        return _page(request, viewer, "overview.html", {"overview": None, "nav": "overview"})
    cur, names, units = data.currency, _meter_names(), meter_units()
    charts = [
        series_table(series, caption=f"{meter.name}: usage per day this period", unit=meter.unit)
        for meter, series in data.series
    ]
    return _page(
        request,
        viewer,
        "overview.html",
        {
            "nav": "overview",
            "overview": data,
            "charts": charts,
            "period": local_range(data.period.start, data.period.end, customer.timezone),
            "cost_so_far": money(data.cost_so_far, cur),
            "forecast_cost": money(data.forecast_cost, cur),
            "upcoming_total": money(data.computation.total, cur),
            "forecast_total": money(data.forecast.total, cur),
            "charges": [_charge_row(c, cur) for c in data.charges],
            "grants": [
                {
                    "g": b,
                    "amount": money(b.grant.amount, cur),
                    "balance": money(b.grant.balance, cur),
                    "pending": money(b.pending_draw, cur),
                    "after": money(b.balance_after, cur),
                    "used_pct": _pct(
                        amount_of(b.grant.amount) - b.balance_after, amount_of(b.grant.amount)
                    ),
                }
                for b in data.grants
            ],
            "commits": [_commit_row(s, cur) for s in data.commits],
            "entitlements": entitlement_rows(customer),
            "lines": without_usage(
                [
                    explain_line(ln, cur, customer.timezone, names, units)
                    for ln in data.computation.lines
                ],
                data.computation.lines,
                data.missing_meters,
            ),
            "missing_meters": data.missing_meters,
        },
    )


def _charge_row(c: selectors.ChargeUsage, cur: str) -> dict[str, Any]:
    """A usage charge's row: quantities with the meter's unit; none when the meter is gone."""
    unit = _unit(c.meter)
    forecast = forecast_quantity(c.meter, c.forecast_quantity)
    return {
        "c": c,
        "quantity": DASH if c.meter_missing else number(c.quantity, unit),
        "cost": money(c.cost, cur),
        "forecast_quantity": DASH if c.meter_missing else number(forecast, unit),
        "forecast_cost": money(c.forecast_cost, cur),
    }


def _commit_row(s: Any, cur: str) -> dict[str, Any]:
    return {
        "c": s,
        "amount": money(s.commit.amount, cur),
        "spend": money(s.spend, cur),
        "forecast": money(s.forecast_spend, cur),
        "balance": money(s.grant.grant.balance, cur) if s.grant else "",
    }


def _pct(part: Any, whole: Any) -> int:
    return 0 if not whole else max(0, min(100, int(part * 100 / whole)))


def _meter_names() -> dict[str, str]:
    return dict(Meter.objects.values_list("key", "name"))


def _unit(meter: Meter | None) -> str:
    return meter.unit if meter is not None else ""


def _selection(request: HttpRequest, viewer: Viewer, meter: Meter) -> selectors.MeterRange:
    today = timezone.now().astimezone(ZoneInfo(viewer.customer.timezone)).date()

    def day(name: str, default: date) -> date:
        raw = request.GET.get(name, "")
        try:
            return date.fromisoformat(raw) if raw else default
        except ValueError as exc:
            raise AppError(
                "validation_error",
                f"{name} is not a date (YYYY-MM-DD).",
                details={name: "Use YYYY-MM-DD."},
            ) from exc

    window = request.GET.get("window", "day")
    if window not in ("day", "hour"):
        raise AppError("validation_error", "window is day or hour.", details={"window": ""})
    default_start = today - timedelta(days=1 if window == "hour" else 29)
    return selectors.MeterRange(
        day("start", default_start), day("end", today), window, request.GET.get("group", "")
    )


@usage_page
def meter_detail(request: HttpRequest, viewer: Viewer, meter_key: str) -> HttpResponse:
    meter = _meter_or_404(viewer, meter_key)
    context: dict[str, Any] = {
        "nav": "meters",
        "meter": meter,
        "dimensions": selectors.dimensions_of(meter),
        "meters": selectors.meters_for(viewer.customer),
    }
    try:
        selection = _selection(request, viewer, meter)
        context["selection"] = selection
        series = selectors.meter_usage(viewer.customer, meter, selection)
    except AppError as exc:
        context["error"] = exc.message
        return _page(request, viewer, "meter.html", context, status=400)
    context["chart"] = series_table(
        series,
        caption=f"{meter.name} per {selection.window}",
        unit=meter.unit,
        group=selection.group,
    )
    context["total"] = number(series.total, meter.unit)
    context["groups"] = [
        (", ".join(f"{k}={v}" for k, v in (g.group or {}).items()), number(g.value, meter.unit))
        for g in series.groups
    ]
    context["export_query"] = request.GET.urlencode()
    return _page(request, viewer, "meter.html", context)


@usage_page
def meter_export(request: HttpRequest, viewer: Viewer, meter_key: str) -> HttpResponse:
    meter = _meter_or_404(viewer, meter_key)
    try:
        selection = _selection(request, viewer, meter)
        series = selectors.meter_usage(viewer.customer, meter, selection)
    except AppError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain")
    name = f"{viewer.customer.external_id}-{meter.key}-{selection.start_day}-{selection.end_day}"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    writer = csv.writer(response)
    zone = ZoneInfo(viewer.customer.timezone)
    writer.writerow(
        [
            "window_start",
            "window_end",
            "meter",
            *([selection.group] if selection.group else []),
            "value",
        ]
    )
    for point in series.points:
        group = [str((point.group or {}).get(selection.group, ""))] if selection.group else []
        writer.writerow(
            [
                point.start.astimezone(zone).isoformat(),
                point.end.astimezone(zone).isoformat(),
                meter.key,
                *group,
                "" if point.value is None else str(point.value),
            ]
        )
    return response


def _meter_or_404(viewer: Viewer, meter_key: str) -> Meter:
    try:
        return selectors.meter_for(viewer.customer, meter_key)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _invoice_or_404(viewer: Viewer, number_: str) -> Any:
    try:
        return selectors.customer_invoice(viewer.customer, number_)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@usage_page
def invoice_list(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    invoices = [
        {
            "inv": inv,
            "total": money(inv.total, inv.currency),
            "period": local_range(inv.period_start, inv.period_end, viewer.customer.timezone),
        }
        for inv in selectors.customer_invoices(viewer.customer)[:200]
    ]
    return _page(request, viewer, "invoices.html", {"nav": "invoices", "invoices": invoices})


@usage_page
def invoice_detail(request: HttpRequest, viewer: Viewer, number: str) -> HttpResponse:
    invoice = _invoice_or_404(viewer, number)
    tz, cur, names = viewer.customer.timezone, invoice.currency, _meter_names()
    lines = list(invoice.lines.all())
    units = meter_units(line.meter_key for line in lines)
    return _page(
        request,
        viewer,
        "invoice.html",
        {
            "nav": "invoices",
            "invoice": invoice,
            "total": money(invoice.total, cur),
            "period": local_range(invoice.period_start, invoice.period_end, tz),
            "lines": [explain_line(ln, cur, tz, names, units) for ln in lines],
            "credit_notes": [
                (note, note_reason(note), applied_as(note), money(note.total, cur))
                for note in invoice.credit_notes.order_by("created_at", "pk")
            ],
        },
    )


@usage_page
def invoice_pdf(request: HttpRequest, viewer: Viewer, number: str) -> HttpResponse:
    """The stored PDF (rendered after numbering, or now if that has not happened yet), as
    issued, and a last page with the payment status as of now."""
    invoice = _invoice_or_404(viewer, number)
    content = invoice_pdf_download(invoice)
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
    return response


@usage_page
def credit_note_pdf(request: HttpRequest, viewer: Viewer, number: str, note: str) -> HttpResponse:
    """A credit note of one of the customer's own invoices, as PDF (rendered on request)."""
    invoice = _invoice_or_404(viewer, number)
    found = invoice.credit_notes.filter(number=note).first()
    if found is None:
        raise Http404("No such credit note on this invoice.")
    response = HttpResponse(credit_note_pdf_render(found), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{found.number}.pdf"'
    return response
