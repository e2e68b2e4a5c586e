"""Forms for the refund and dispute admin pages (input only; services decide)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from billingsite.money import amount_of
from disputes.states import RefundReason
from invoicing.models import Payment

EVIDENCE_FORM_FIELDS = (
    "customer_name",
    "customer_email_address",
    "product_description",
    "service_date",
    "service_documentation",
    "access_activity_log",
    "customer_communication",
    "refund_policy_disclosure",
    "cancellation_policy_disclosure",
    "uncategorized_text",
)


class RefundRequestForm(forms.Form):
    amount = forms.DecimalField(
        required=False,
        min_value=Decimal("0.01"),
        decimal_places=4,
        help_text="Leave empty (and no line amounts) to refund all that is left.",
    )
    reason = forms.ChoiceField(choices=RefundReason.choices)
    reason_text = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Reason (free text)"
    )
    internal_note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, payment: Payment, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line_fields: list[tuple[str, Any]] = []
        if payment.invoice_id is not None:
            for line in payment.invoice.lines.filter(amount__gt=0).order_by("pk"):  # type: ignore[union-attr]
                name = f"line_{line.pk}"
                self.fields[name] = forms.DecimalField(
                    required=False,
                    min_value=Decimal("0.01"),
                    decimal_places=4,
                    label=f"{line.description} ({amount_of(line.amount)})",
                )
                self.line_fields.append((name, line))

    def lines(self) -> dict[int, Decimal]:
        return {
            line.pk: self.cleaned_data[name]
            for name, line in self.line_fields
            if self.cleaned_data.get(name)
        }


class RejectForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Why (required)")


class SlaBatchForm(forms.Form):
    file = forms.FileField(help_text="CSV with columns customer, amount, reason.")
    batch_ref = forms.SlugField(
        max_length=40,
        help_text="A name for this batch (re-running the same batch refunds each customer once).",
    )
    apply = forms.BooleanField(required=False, label="Apply (unchecked: dry run preview only)")


class EvidenceForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in EVIDENCE_FORM_FIELDS:
            self.fields[name] = forms.CharField(
                required=False,
                label=name.replace("_", " ").capitalize(),
                widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
            )

    def evidence(self) -> dict[str, str]:
        return {name: value for name, value in self.cleaned_data.items() if value}


class NoteForm(forms.Form):
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}), label="Communication note"
    )


class PeriodForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), help_text="Exclusive.")
