"""Signing in and out: audited in every organization of the staff member, throttled after
repeated failures, optional TOTP second step."""

import uuid
from base64 import b32decode

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from audit.verification import chain_verify
from tenants.context import organization_context
from tenants.models import Role
from tests.conftest import Tenant, make_tenant
from tests.console.builders import PASSWORD, Staff, make_staff
from tests.console.conftest import signed_in

pytestmark = pytest.mark.django_db
LOGIN = "/console/login/"


def org_actions(org: Tenant, user_pk: int) -> list[str]:
    with organization_context(org.organization.id):
        return list(
            AuditEvent.objects.filter(chain_id=org.organization.id, target_id=str(user_pk))
            .order_by("seq")
            .values_list("action", flat=True)
        )


def sign_in(client: Client, staff: Staff, password: str = PASSWORD) -> int:
    response = client.post(LOGIN, {"username": staff.email, "password": password})
    return response.status_code


def test_sign_in_and_out_are_audited_in_each_organization(org_a: Tenant, org_b: Tenant) -> None:
    staff = make_staff(org_a.organization, Role.VIEWER)
    make_staff(org_b.organization, Role.COMPLIANCE, email=staff.email)
    client = Client()
    assert sign_in(client, staff) == 302
    assert client.post("/console/logout/").status_code == 302
    for org in (org_a, org_b):
        actions = org_actions(org, staff.user.pk)
        assert actions[-2:] == ["console.login", "console.logout"]
        with organization_context(org.organization.id):
            assert chain_verify(org.organization.id).ok


def test_logout_by_link_only_asks(org_a: Tenant, owner: Staff) -> None:
    client = signed_in(owner)
    assert client.get("/console/logout/").status_code == 200
    assert client.get(reverse("console:home")).status_code == 200  # still signed in


def test_wrong_password_is_audited_and_repeated_failures_are_throttled(org_a: Tenant) -> None:
    staff = make_staff(org_a.organization, Role.ADMIN)
    client = Client()
    for _ in range(10):
        assert sign_in(client, staff, "wrong password") == 200
    assert org_actions(org_a, staff.user.pk).count("console.login_failed") == 10
    response = client.post(LOGIN, {"username": staff.email, "password": PASSWORD})
    assert response.status_code == 200
    assert b"Too many failed sign-in attempts" in response.content


def test_unknown_user_gets_the_same_answer(org_a: Tenant) -> None:
    response = Client().post(LOGIN, {"username": f"{uuid.uuid4()}@x.org", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_open_redirects_are_refused(org_a: Tenant) -> None:
    staff = make_staff(org_a.organization, Role.ADMIN)
    response = Client().post(
        LOGIN, {"username": staff.email, "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/console/"


def _enable_totp(staff: Staff) -> bytes:
    device = TOTPDevice.objects.create(user=staff.user, name="test", confirmed=True)
    return device.bin_key


def test_two_factor_asks_for_a_code_before_signing_in(org_a: Tenant) -> None:
    staff = make_staff(org_a.organization, Role.OWNER)
    key = _enable_totp(staff)
    client = Client()
    response = client.post(LOGIN, {"username": staff.email, "password": PASSWORD})
    assert response["Location"] == "/console/login/verify/"
    assert client.get(reverse("console:home")).status_code == 302  # not signed in yet
    bad = client.post("/console/login/verify/", {"code": "000000"})
    assert bad.status_code == 200 and b"not valid" in bad.content
    throttled = client.post("/console/login/verify/", {"code": f"{totp(key):06d}"})
    assert b"Too many wrong codes" in throttled.content  # django-otp's back-off
    TOTPDevice.objects.filter(user=staff.user).update(
        throttling_failure_count=0, throttling_failure_timestamp=None
    )
    good = client.post("/console/login/verify/", {"code": f"{totp(key):06d}"})
    assert good.status_code == 302
    assert client.get(reverse("console:home")).status_code == 200
    actions = org_actions(org_a, staff.user.pk)
    assert "console.login_failed" in actions and actions[-1] == "console.login"


def test_two_factor_set_up_from_the_account_page(org_a: Tenant, owner: Staff) -> None:
    client = signed_in(owner)
    page = client.post("/console/account/two-factor/", {"action": "start"})
    secret = page.context["setup"]["secret"]
    code = f"{totp(b32decode(secret)):06d}"
    done = client.post("/console/account/two-factor/", {"action": "confirm", "code": code})
    assert b"Two-factor sign-in is on" in done.content
    assert TOTPDevice.objects.get(user=owner.user).confirmed
    assert "console.two_factor_enabled" in org_actions(org_a, owner.user.pk)


def test_password_change_keeps_the_session_and_is_audited(org_a: Tenant, owner: Staff) -> None:
    client = signed_in(owner)
    new = "an even longer passphrase 77"
    response = client.post(
        "/console/account/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert b"Your password was changed" in response.content
    assert client.get(reverse("console:home")).status_code == 200
    assert "console.password_changed" in org_actions(org_a, owner.user.pk)
    assert sign_in(Client(), owner, new) == 302


def test_a_member_of_no_organization_sees_an_empty_console() -> None:
    make_tenant(f"lonely-{uuid.uuid4().hex[:6]}")
    from django.contrib.auth.models import User

    user = User.objects.create_user(username=f"{uuid.uuid4().hex}@x.org", password=PASSWORD)
    client = Client()
    client.force_login(user)
    response = client.get(reverse("console:home"))
    assert b"not a member of any organization" in response.content
