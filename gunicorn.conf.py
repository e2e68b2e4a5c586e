"""gunicorn settings for Tally, read automatically when gunicorn starts in this directory
(`bin/tally run`, the Procfile, the README's deployment commands).

Signed usage-link tokens travel in URL paths and are bearer credentials: the logger class
redacts them from the access and error logs."""

logger_class = "billingsite.gunicorn_logging.RedactingLogger"
