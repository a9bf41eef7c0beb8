"""Account flows in a real browser at phone width (390 px): change the password (another
device's session ends), create an API token and revoke it (it fails on the next request).
Debian's chromium driven by Playwright; screenshots under test-artifacts/web/."""

from __future__ import annotations

import pytest
from test_web_browser import backend, browser, live_server, login, shot  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
PASSWORD = "pw-123456"
NEW_PASSWORD = "a much longer password"


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_change_password_and_revoke_a_token_on_a_phone(app, live_server, browser, make_student):  # noqa: F811
    student = make_student(email="phone@example.edu", name="Pat Phone", password=PASSWORD)
    other_device = browser.new_page(viewport={"width": 1200, "height": 900})
    login(other_device, live_server, student.email, PASSWORD)
    other_device.goto(f"{live_server}/account")
    assert other_device.url.endswith("/account")

    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server}/login")
    assert "wrong passwords for an account" in page.inner_text("#login-limits") and fits_the_screen(page)
    shot(page, "phone-login")
    login(page, live_server, student.email, PASSWORD)
    page.click("header .who")
    page.wait_for_selector("text=Change password")
    assert "2 sessions" in page.inner_text("main") and fits_the_screen(page)
    shot(page, "phone-account")

    page.fill("input[name=current]", "not my password")
    page.fill("input[name=password]", NEW_PASSWORD)
    page.fill("input[name=confirm]", NEW_PASSWORD)
    page.click("button:has-text('Change password')")
    page.wait_for_selector(".flash.error")
    assert "current password is wrong" in page.inner_text(".flash.error")
    assert errors == ["Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"]
    errors.clear()  # that 400 was the point; nothing else may fail
    page.fill("input[name=current]", PASSWORD)
    page.fill("input[name=password]", NEW_PASSWORD)
    page.fill("input[name=confirm]", NEW_PASSWORD)
    page.click("button:has-text('Change password')")
    page.wait_for_selector("text=Password changed")
    assert "1 session" in page.inner_text("main") and fits_the_screen(page)
    shot(page, "phone-password-changed")
    other_device.reload()
    assert "/login" in other_device.url  # the other device's session ended with the change

    page.fill("input[name=name]", "laptop cli")
    page.click("text=Create token")
    page.wait_for_selector("#new-token")
    token = page.input_value("#new-token")
    bearer = {"Authorization": f"Bearer {token}"}
    api = app.test_client()
    assert api.get("/api/me", headers=bearer).status_code == 200
    page.goto(f"{live_server}/account")
    row = page.locator("#tokens tr", has_text="laptop cli")
    assert "never" not in row.inner_text()  # the call above is its last use
    assert fits_the_screen(page)
    shot(page, "phone-token-listed")
    row.locator("button:has-text('Revoke')").click()
    page.wait_for_selector("text=it no longer works")
    assert "revoked" in page.locator("#tokens tr", has_text="laptop cli").inner_text()
    shot(page, "phone-token-revoked")
    assert api.get("/api/me", headers=bearer).status_code == 401
    assert not errors, errors


def test_instructor_resets_a_members_password_on_a_phone(live_server, browser, make_student, make_user,  # noqa: F811
                                                          course):
    student = make_student(email="forgetful@example.edu", name="Fay Forgetful", password=PASSWORD)
    instructor = make_user("instructor", course, email="prof2@example.edu", password=PASSWORD)
    page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    login(page, live_server, instructor.email, PASSWORD)
    page.goto(f"{live_server}/courses/{course.id}/members")
    page.locator("tr", has_text=student.email).locator("button:has-text('Reset password')").click()
    page.wait_for_selector("#reset-link")
    link = page.input_value("#reset-link")
    assert fits_the_screen(page)
    shot(page, "phone-reset-link")
    member = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    member.goto(live_server + link[link.index("/password/reset/"):])  # PUBLIC_URL is the deployed address
    member.fill("input[name=password]", NEW_PASSWORD)
    member.fill("input[name=confirm]", NEW_PASSWORD)
    member.click("button:has-text('Set password')")
    member.wait_for_selector("text=Your password is set")
    login(member, live_server, student.email, NEW_PASSWORD)
    member.wait_for_selector("text=Late days")
    shot(member, "phone-after-reset")

