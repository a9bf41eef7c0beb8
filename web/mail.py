"""Outgoing mail (password reset links) through the SMTP server declared in web/config.py."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage


class MailError(RuntimeError):
    pass


def mail_configured(config) -> bool:
    return bool(config["SMTP_HOST"])


def send_mail(config, *, to: str, subject: str, body: str) -> None:
    """Send one plain-text message; MailError (with what to check) when the server refuses."""
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    try:
        with smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=15) as smtp:
            if config["SMTP_STARTTLS"]:
                smtp.starttls()
            if config["SMTP_USERNAME"]:
                smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"could not send mail through {config['SMTP_HOST']}:{config['SMTP_PORT']} ({exc}); "
                        "check the DLGRADE_SMTP_* settings") from exc
