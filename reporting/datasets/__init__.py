"""The built-in export datasets, registered into ``billingsite.exports`` from
``ReportingConfig.ready()``."""

from __future__ import annotations

from billingsite.exports import register_dataset


def register_builtin() -> None:
    from reporting.datasets import billing, payments, usage

    for dataset in (*billing.DATASETS, *payments.DATASETS, usage.USAGE_DAILY):
        register_dataset(dataset)
