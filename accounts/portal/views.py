"""The customers' own sign-in page and password reset (Django's auth views, customer styled).

Only users with a ``CustomerUser`` may sign in here, and only they get reset emails from here:
a staff account is never signed in or reset through the customers' pages. Both forms are
attempt-limited per account identifier and per client address (``accounts.portal.throttle``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.auth import forms as auth_forms
from django.contrib.auth import views as auth_views
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.urls import reverse_lazy

from accounts import attempts
from accounts.models import CustomerUser, UsageSignInMethod
from accounts.portal.access import client_ip
from accounts.portal.services import usage_sign_in_record
from accounts.portal.throttle import PASSWORD_RESET, SIGN_IN, form_subjects, refused_page


class CustomerAuthenticationForm(auth_forms.AuthenticationForm):
    def confirm_login_allowed(self, user: AbstractBaseUser) -> None:
        super().confirm_login_allowed(user)
        if not CustomerUser.objects.filter(user_id=user.pk).exists():
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class CustomerPasswordResetForm(auth_forms.PasswordResetForm):
    def get_users(self, email: str) -> Iterator[Any]:
        return (
            user
            for user in super().get_users(email)
            if CustomerUser.objects.filter(user_id=user.pk).exists()
        )


class SignIn(auth_views.LoginView):
    template_name = "usage/login.html"
    authentication_form = CustomerAuthenticationForm
    redirect_authenticated_user = False
    next_page = reverse_lazy("usage:overview")

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Reserved before the password is checked: past a limit, no password is tried at all.
        self._attempts, self._account = form_subjects(
            SIGN_IN, request, str(request.POST.get("username", ""))
        )
        verdict = attempts.acquire(self._attempts)
        if verdict.refused:
            return refused_page(SIGN_IN, request, verdict)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: auth_forms.AuthenticationForm) -> HttpResponse:
        # Only failures count: the account starts afresh, the address gets its attempt back.
        for subject in self._attempts:
            if subject is self._account:
                attempts.clear(subject)
            else:
                attempts.refund(subject)
        response = super().form_valid(form)
        user = form.get_user()
        usage_sign_in_record(
            customer=user.customer_user.customer,
            method=UsageSignInMethod.PASSWORD,
            user=user,
            ip=client_ip(self.request),
            user_agent=self.request.META.get("HTTP_USER_AGENT", ""),
        )
        return response


class SignOut(auth_views.LogoutView):
    next_page = reverse_lazy("usage_auth:login")


class PasswordReset(auth_views.PasswordResetView):
    template_name = "usage/password_reset_form.html"
    email_template_name = "usage/password_reset_email.txt"
    subject_template_name = "usage/password_reset_subject.txt"
    form_class = CustomerPasswordResetForm
    success_url = reverse_lazy("usage_auth:password_reset_done")

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Every request counts, sent or not: telling them apart would reveal the account.
        items, _ = form_subjects(PASSWORD_RESET, request, str(request.POST.get("email", "")))
        verdict = attempts.acquire(items)
        if verdict.refused:
            return refused_page(PASSWORD_RESET, request, verdict)
        return super().post(request, *args, **kwargs)


class PasswordResetDone(auth_views.PasswordResetDoneView):
    template_name = "usage/password_reset_done.html"


class PasswordResetConfirm(auth_views.PasswordResetConfirmView):
    template_name = "usage/password_reset_confirm.html"
    success_url = reverse_lazy("usage_auth:password_reset_complete")


class PasswordResetComplete(auth_views.PasswordResetCompleteView):
    template_name = "usage/password_reset_complete.html"
