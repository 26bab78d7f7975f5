"""Click-to-call: the PBX rings the user's own extension, then dials the customer.

One entry, ``vpbx.click2call._vpbx_click2call(number, company=, partner=, region=)``, used by the
Call buttons of contacts, employees and calls. It checks the number (valid, not on the
do-not-call list: ``phone.blacklist``) before asking the PBX,
creates the outbound call in the ``calling`` state with the PBX's ``call_uuid``, and the later
webhook or history record claims and completes that same call (``vpbx.call``). The PBX account
is the caller's: their employee's extension belongs to it.
"""

import logging
import uuid

from psycopg2 import errors as pg_errors

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from ..const import GROUP_USER
from ..services.errors import VpbxError
from ..services.phone import format_display, phone_keys

_logger = logging.getLogger(__name__)


class VpbxClick2call(models.AbstractModel):
    _name = "vpbx.click2call"
    _description = "VPBX Click-to-Call"

    @api.model
    def _vpbx_check_access(self):
        if not self.env.user.has_group(GROUP_USER):
            raise AccessError(self.env._("Only VPBX users can call through VPBX."))

    @api.model
    def _vpbx_caller(self, company):
        """The current user's employee in `company` that has an extension (UserError if none)."""
        Employee = self.env["hr.employee"].sudo()
        employees = Employee.search(
            [("user_id", "=", self.env.uid), ("company_id", "=", company.id)], order="id"
        )
        caller = employees.filtered("vpbx_extension")[:1]
        if caller and caller.vpbx_pbx_id:
            return caller
        if caller:
            raise UserError(
                self.env._(
                    "The extension %(extension)s of %(employee)s belongs to no PBX account: ask a"
                    " VPBX manager to choose its PBX account on the employee.",
                    extension=caller.vpbx_extension,
                    employee=caller.name,
                )
            )
        if not employees:
            raise UserError(
                self.env._(
                    "You are not linked to an employee in %(company)s, so you have no VPBX"
                    " extension to call from: ask your manager to link your user to your"
                    " employee and give it an extension.",
                    company=company.name,
                )
            )
        raise UserError(
            self.env._(
                "Your employee %(employee)s has no VPBX extension in %(company)s: ask a VPBX"
                " manager to set one before calling.",
                employee=employees[0].name,
                company=company.name,
            )
        )

    @api.model
    def _vpbx_click2call(self, number, company=None, partner=None, region=None, lead=None):
        """Ask the PBX to connect the current user's extension to `number`.

        :param company: the company of the record called from (default: the current one)
        :param partner: the contact called, linked to the call
        :param lead: the lead or opportunity called from, linked to the call
        :param region: country code for a number written without international prefix
            (default: the company's)
        :return: a notification action
        """
        self._vpbx_check_access()
        company = company or self.env.company
        number = (number or "").strip()
        if not number:
            raise UserError(self.env._("There is no phone number to call."))
        caller = self._vpbx_caller(company)
        pbx = caller.vpbx_pbx_id.sudo()
        settings = pbx._vpbx_call_settings()
        region = region or settings.region
        keys = phone_keys(number, region)
        dial = pbx._vpbx_click2call_number(number, region) if keys else None
        if not dial:
            raise UserError(
                self.env._("%(number)s is not a valid phone number: check it.", number=number)
            )
        display = format_display(number, region)
        if self.env["phone.blacklist"]._vpbx_blocked_keys(keys[:1]):
            # keys[0] is today's number: an old 0168 entry blocks 038 and the other way round
            raise UserError(
                self.env._(
                    "%(number)s is on the do-not-call list: it cannot be called from Odoo.",
                    number=display,
                )
            )
        hotline = caller.vpbx_hotline or pbx.hotline or ""
        try:
            client = pbx._vpbx_client()
            payload = client.click2call(caller.vpbx_extension, hotline, dial)
        except VpbxError as error:
            _logger.info(
                "VPBX click-to-call by user %s (extension %s) refused: %s",
                self.env.uid,
                caller.vpbx_extension,
                error.code,
            )
            raise UserError(
                self.env._(
                    "Cannot call %(number)s: %(reason)s",
                    number=display,
                    reason=pbx._vpbx_error_message(error),
                )
            ) from None
        call_uuid = payload.get("call_uuid") if isinstance(payload, dict) else None
        call_uuid = str(call_uuid) if call_uuid else None
        call = self._vpbx_create_calling(
            pbx, caller, hotline, dial, keys, call_uuid, partner=partner, lead=lead
        )
        _logger.info(
            "VPBX click-to-call by user %s (extension %s): call %s, uuid %s",
            self.env.uid,
            caller.vpbx_extension,
            call.id,
            call_uuid,
        )
        return pbx._vpbx_notify(
            self.env._("Calling %(number)s — pick up your phone", number=display), "info"
        )

    @api.model
    def _vpbx_create_calling(
        self, pbx, caller, hotline, dial, keys, call_uuid, partner=None, lead=None
    ):
        """The outbound call waiting for the PBX's record; its id is the call_uuid until then."""
        Call = (
            self.env["vpbx.call"]
            .sudo()
            .with_company(pbx.company_id)
            .with_context(mail_create_nolog=True, mail_create_nosubscribe=True)
        )
        ours = {
            "vpbx_click2call": True,
            "employee_id": caller.id,
            "user_id": self.env.uid,
        }
        if call_uuid:
            # a live event of this very call may already be in (the PBX rang the agent first)
            known = Call.search(
                [("pbx_id", "=", pbx.id), ("vpbx_call_id", "=", call_uuid)], limit=1
            )
            if known:
                if partner and not known.partner_id:
                    ours["partner_id"] = partner.id
                if lead and not known.lead_id:
                    ours["lead_id"] = lead.id
                known.write(ours)
                return known
        vals = {
            **ours,
            # no call_uuid in the answer: a local id the PBX record never has
            "vpbx_call_id": call_uuid or f"click2call-{uuid.uuid4()}",
            "call_uuid": call_uuid,
            "pbx_id": pbx.id,
            "direction": "outbound",
            "status": "calling",
            "is_final": False,
            "customer_number": dial,
            "customer_number_normalized": keys[0],
            "customer_number_alt_key": keys[1] if len(keys) > 1 else False,
            "extension": caller.vpbx_extension,
            "hotline": hotline or False,
            "agent_name": caller.name,
            "partner_id": partner.id if partner else False,
            "lead_id": lead.id if lead else False,
            "start_time": fields.Datetime.now(),
        }
        try:
            with self.env.cr.savepoint():
                call = Call.create(vals)
        except pg_errors.UniqueViolation:
            # a live event committed the call meanwhile (invisible to this transaction): keep
            # ours under a local id; the PBX's final record merges it into that row
            vals["vpbx_call_id"] = f"click2call-{uuid.uuid4()}"
            call = Call.create(vals)
        if not partner:
            call._vpbx_match_partner()
        if not lead:
            call._vpbx_match_lead()
        return call
