"""The Stripe wing's routes, included by billingsite.urls under ``webhooks/stripe/``."""

from django.urls import path

from invoicing.stripe.webhook_view import stripe_webhook

urlpatterns = [
    path("", stripe_webhook, name="stripe-webhook"),
]
