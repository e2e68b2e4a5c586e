"""Alerts (issue 17): thresholds on usage, spend, credit balances and commit burn, evaluated
continuously from the rollup path; each crossing fires once per billing period.

models (Alert, AlertTrigger, AlertDirtyCustomer), values (what an alert measures), services
(evaluate, create/update/delete, the rollup hook), selectors, api, admin, tasks, email."""
