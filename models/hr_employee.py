import logging

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..const import ACTION_CALLS, GROUP_MANAGER, GROUP_USER
from ..services import provisioning
from ..services.errors import VpbxError

_logger = logging.getLogger(__name__)

# Pages of internal_phone/list read when looking an employee up (50 items each).
LOOKUP_MAX_PAGES = 20


class HrEmployee(models.Model):
    """PBX extension of an employee: credentials, provisioning through the PBX API, calls.

    The account, domain and extension are declared on ``hr.employee.base`` (colleagues see them
    on the public form). Secrets: ``vpbx_password`` is readable by VPBX managers only; the
    employee's own user reads it through ``vpbx_softphone_password``. Fields missing from
    hr.employee.public carry ``groups`` so that non-HR users never prefetch them.
    """

    _inherit = "hr.employee"

    # tracked here: hr.employee is a mail thread, its public view is not
    vpbx_pbx_id = fields.Many2one(tracking=True)
    vpbx_domain = fields.Char(tracking=True)
    vpbx_extension = fields.Char(tracking=True)
    vpbx_password = fields.Char(
        string="VPBX Password",
        copy=False,
        groups=GROUP_MANAGER,
        # its own prefetch group: never loaded along with the other fields of the employee
        prefetch="vpbx_secret",
    )
    vpbx_state = fields.Selection(
        [
            ("none", "Not provisioned"),
            ("provisioned", "Provisioned"),
            ("error", "Error"),
        ],
        string="VPBX Status",
        compute="_compute_vpbx_state",
        store=True,
        readonly=False,
        copy=False,
        groups="hr.group_hr_user",
    )
    vpbx_last_error = fields.Text(
        string="VPBX Last Error",
        compute="_compute_vpbx_state",
        store=True,
        readonly=False,
        copy=False,
        groups="hr.group_hr_user",
    )
    vpbx_agent_id = fields.Char(string="VPBX Agent ID", copy=False, groups="hr.group_hr_user")
    # not on hr.employee.public: colleagues do not need it, so it carries groups
    vpbx_hotline = fields.Char(
        string="VPBX Hotline",
        groups="hr.group_hr_user",
        help="Outbound number (caller ID) of this employee's click-to-calls; empty: the"
        " hotline of the PBX account.",
    )
    vpbx_call_count = fields.Integer(
        string="Calls", compute="_compute_vpbx_call_count", groups=GROUP_USER
    )

    @api.depends("vpbx_extension")
    def _compute_vpbx_state(self):
        for employee in self:
            employee.vpbx_state = "provisioned" if employee.vpbx_extension else "none"
            employee.vpbx_last_error = False

    def _compute_vpbx_call_count(self):
        counts = dict(
            self.env["vpbx.call"]._read_group(
                [("employee_id", "in", self.ids)], ["employee_id"], ["__count"]
            )
        )
        for employee in self:
            employee.vpbx_call_count = counts.get(employee._origin, 0)

    @api.constrains("vpbx_extension", "vpbx_pbx_id", "company_id")
    def _check_vpbx_extension_unique(self):
        for employee in self.filtered("vpbx_extension"):
            pbx = employee.vpbx_pbx_id
            if pbx and pbx.company_id != employee.company_id:
                raise ValidationError(
                    self.env._(
                        "The PBX account %(pbx)s of %(employee)s belongs to another company.",
                        pbx=pbx.name,
                        employee=employee.name,
                    )
                )
            # on one account an extension is one person; without an account, per company
            scope = (
                ("vpbx_pbx_id", "=", pbx.id) if pbx else ("company_id", "=", employee.company_id.id)
            )
            other = (
                self.sudo()
                .with_context(active_test=False)
                .search(
                    [
                        ("id", "!=", employee.id),
                        ("vpbx_extension", "=", employee.vpbx_extension),
                        scope,
                    ],
                    limit=1,
                )
            )
            if other:
                raise ValidationError(
                    self.env._(
                        "VPBX extension %(extension)s is already used by %(other)s on"
                        " %(pbx)s: an extension belongs to one employee only.",
                        extension=employee.vpbx_extension,
                        other=other.name,
                        pbx=pbx.name or employee.company_id.name,
                    )
                )

    @api.model
    def _vpbx_assign_default_pbx(self, companies):
        """Give the extensions of `companies` typed in before they had an account their
        company's first account (called when accounts are created)."""
        employees = (
            self.sudo()
            .with_context(active_test=False)
            .search(
                [
                    ("company_id", "in", companies.ids),
                    ("vpbx_extension", "!=", False),
                    ("vpbx_pbx_id", "=", False),
                ]
            )
        )
        for company in employees.company_id:
            pbx = self.env["vpbx.pbx"].sudo().search([("company_id", "=", company.id)], limit=1)
            employees.filtered(lambda e, company=company: e.company_id == company).vpbx_pbx_id = pbx

    @api.model
    def _vpbx_clean_vals(self, vals):
        for fname in ("vpbx_extension", "vpbx_domain", "vpbx_password"):
            if isinstance(vals.get(fname), str):
                vals[fname] = vals[fname].strip() or False
        return vals

    @api.model_create_multi
    def create(self, vals_list):
        return super().create([self._vpbx_clean_vals(dict(vals)) for vals in vals_list])

    def write(self, vals):
        return super().write(self._vpbx_clean_vals(dict(vals)))

    # ------------------------------------------------------------------ actions

    def action_vpbx_open_calls(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(ACTION_CALLS)
        action["domain"] = [("employee_id", "=", self.id)]
        action["context"] = {"default_employee_id": self.id}
        action["display_name"] = self.env._("Calls of %(name)s", name=self.name)
        return action

    def _vpbx_check_manager(self):
        if not self.env.su and not self.env.user.has_group(GROUP_MANAGER):
            raise AccessError(
                self.env._("Only VPBX managers can create or fetch extensions on VPBX.")
            )

    def action_vpbx_invite(self):
        """Create the employee as an agent on the PBX and store its credentials."""
        self.ensure_one()
        self._vpbx_check_manager()
        message = self._vpbx_invite()
        return self._vpbx_notify_and_reload(self._vpbx_pbx(), message)

    def action_vpbx_fetch(self):
        """Read the credentials of the employee's existing extension from the PBX."""
        self.ensure_one()
        self._vpbx_check_manager()
        pbx = self._vpbx_pbx()
        client = self._vpbx_client_or_raise(pbx)
        creds = self._vpbx_lookup(client, pbx)
        message = self._vpbx_store(creds, "fetched")
        return self._vpbx_notify_and_reload(pbx, message)

    @api.model
    def _vpbx_notify_and_reload(self, pbx, message):
        """The success notification, then a reload of the open form to show the extension."""
        action = pbx._vpbx_notify(message)
        action["params"]["next"] = {"type": "ir.actions.client", "tag": "soft_reload"}
        return action

    def action_vpbx_invite_bulk(self):
        """Provision many employees; each one in its own savepoint, so one failure does not
        undo the others. Opens a summary of who succeeded and who failed, and why."""
        self._vpbx_check_manager()
        lines = []
        for employee in self:
            if employee.vpbx_extension and employee.sudo().vpbx_password:
                # same rule as _vpbx_invite, reported as skipped rather than failed
                lines.append(
                    {
                        "employee_id": employee.id,
                        "status": "skipped",
                        "message": self.env._(
                            "Already has extension %(extension)s.",
                            extension=employee.vpbx_extension,
                        ),
                    }
                )
                continue
            try:
                with self.env.cr.savepoint():
                    message = employee._vpbx_invite()
            except UserError as error:
                reason = error.args[0] if error.args else str(error)
                employee.write({"vpbx_state": "error", "vpbx_last_error": reason})
                lines.append({"employee_id": employee.id, "status": "failed", "message": reason})
            else:
                lines.append({"employee_id": employee.id, "status": "done", "message": message})
        # failures first: they are what the user has to act on
        lines.sort(key=lambda line: {"failed": 0, "done": 1}.get(line["status"], 2))
        result = self.env["vpbx.provision.result"].create(
            {"line_ids": [fields.Command.create(line) for line in lines]}
        )
        return result._action_open()

    # ------------------------------------------------------------------ provisioning

    def _vpbx_pbx(self):
        """The PBX account of the employee's extension: its own, else its company's first."""
        self.ensure_one()
        company = self.company_id or self.env.company
        pbx = self.vpbx_pbx_id or self.env["vpbx.pbx"].sudo().search(
            [("company_id", "=", company.id)], limit=1
        )
        if not pbx:
            raise UserError(
                self.env._(
                    "%(company)s has no PBX account: create one in VPBX > Configuration > PBX"
                    " accounts.",
                    company=company.name,
                )
            )
        return pbx

    def _vpbx_client_or_raise(self, pbx):
        try:
            return pbx._vpbx_client()
        except VpbxError as error:
            raise pbx._vpbx_user_error(error) from None

    def _vpbx_raise(self, error, what):
        """Turn a VpbxError into a UserError naming the employee."""
        pbx = self._vpbx_pbx()
        reason = pbx._vpbx_error_message(error)
        if what == "invite":
            text = self.env._(
                "Could not create %(employee)s on VPBX: %(reason)s",
                employee=self.name,
                reason=reason,
            )
        else:
            text = self.env._(
                "Could not read the extensions of VPBX for %(employee)s: %(reason)s",
                employee=self.name,
                reason=reason,
            )
        raise UserError(text) from None

    def _vpbx_invite(self):
        """Invite the employee on the PBX and store the credentials; returns a success message.

        Raises UserError on any failure without writing anything to the employee.
        """
        self.ensure_one()
        pbx = self._vpbx_pbx()
        if self.vpbx_extension and self.sudo().vpbx_password:
            # inviting again would create a second agent on the PBX
            raise UserError(
                self.env._(
                    "%(employee)s already has the VPBX extension %(extension)s: use Fetch from"
                    " VPBX to refresh its credentials, or clear the extension first.",
                    employee=self.name,
                    extension=self.vpbx_extension,
                )
            )
        if not self.name or not self.name.strip():
            raise UserError(self.env._("The employee needs a name to be created on VPBX."))
        if not self.work_email or not self.work_email.strip():
            raise UserError(
                self.env._(
                    "%(employee)s needs a work e-mail to be created on VPBX: the PBX identifies"
                    " agents by e-mail.",
                    employee=self.name,
                )
            )
        client = self._vpbx_client_or_raise(pbx)
        settings = pbx.sudo()
        invite_fields = settings._vpbx_invite_fields()
        body = provisioning.build_invite_body(
            invite_fields,
            {
                "full_name": self.name.strip(),
                "email": self.work_email.strip(),
                "password": provisioning.generate_password() if invite_fields["password"] else None,
                "role": settings.invite_role,
                "extension": self.vpbx_extension,
            },
        )
        try:
            envelope = client.invite_agent(body)
        except VpbxError as error:
            if error.code != "agent_exists":
                _logger.info("VPBX invite of employee %s failed: %s", self.id, error.code)
                self._vpbx_raise(error, "invite")
            # already on the PBX: its credentials are in the extension list
            creds = self._vpbx_lookup(client, pbx, after_agent_exists=True)
            return self._vpbx_store(creds, "existing")
        paths = settings._vpbx_reply_paths()
        creds = provisioning.extract_credentials(envelope, paths)
        if not creds["extension"] or not creds["password"]:
            # the reply does not carry them where the settings say: ask the extension list
            try:
                found = self._vpbx_lookup(client, pbx)
            except UserError as error:
                raise UserError(
                    self.env._(
                        "VPBX created %(employee)s as an agent, but its reply has no extension"
                        " or password at the configured reply paths (the Provisioning tab of the"
                        " PBX account), and looking it up failed: %(reason)s",
                        employee=self.name,
                        reason=error.args[0],
                    )
                ) from None
            creds = {key: creds[key] or found[key] for key in provisioning.CREDENTIALS}
        return self._vpbx_store(creds, "created")

    def _vpbx_lookup(self, client, pbx, after_agent_exists=False):
        """Credentials of the employee's extension from internal_phone/list, found by work
        e-mail, then by extension. Raises UserError saying what did not match."""
        self.ensure_one()
        email = (self.work_email or "").strip()
        extension = (self.vpbx_extension or "").strip()
        if not email and not extension:
            raise UserError(
                self.env._(
                    "%(employee)s has neither a work e-mail nor an extension to look up on VPBX.",
                    employee=self.name,
                )
            )
        paths = pbx.sudo()._vpbx_reply_paths()
        match = provisioning.MatchResult("none")
        for keyword in dict.fromkeys(k for k in (email, extension) if k):
            items = self._vpbx_phone_items(client, keyword)
            match = provisioning.match_items(items, email=email, extension=extension, paths=paths)
            if match.status != "none":
                break
        if match.status == "ambiguous":
            candidates = ", ".join(
                provisioning.describe_item(item, paths) for item in match.candidates[:10]
            )
            if match.by == "email":
                text = self.env._(
                    "Several extensions on VPBX have the e-mail %(email)s: %(candidates)s."
                    " Enter the credentials of %(employee)s by hand.",
                    email=email,
                    candidates=candidates,
                    employee=self.name,
                )
            else:
                text = self.env._(
                    "Several extensions on VPBX are numbered %(extension)s: %(candidates)s."
                    " Enter the credentials of %(employee)s by hand.",
                    extension=extension,
                    candidates=candidates,
                    employee=self.name,
                )
            raise UserError(text)
        if match.status == "none":
            searched = []
            if email:
                searched.append(self.env._("e-mail %(email)s", email=email))
            if extension:
                searched.append(self.env._("extension %(extension)s", extension=extension))
            if after_agent_exists:
                text = self.env._(
                    "%(employee)s already exists on VPBX, but no extension on VPBX matches"
                    " %(searched)s. Enter the credentials by hand.",
                    employee=self.name,
                    searched=self.env._(" or ").join(searched),
                )
            else:
                text = self.env._(
                    "No extension on VPBX matches %(employee)s: searched by %(searched)s.",
                    employee=self.name,
                    searched=self.env._(" and by ").join(searched),
                )
            raise UserError(text)
        creds = provisioning.credentials_from_item(match.item, paths)
        if not creds["extension"] or not creds["password"]:
            raise UserError(
                self.env._(
                    "VPBX lists an extension for %(employee)s but without its user name or"
                    " password: enter the credentials by hand.",
                    employee=self.name,
                )
            )
        return creds

    def _vpbx_phone_items(self, client, keyword):
        items = []
        page = 1
        while page <= LOOKUP_MAX_PAGES:
            try:
                payload = client.list_internal_phones(keyword=keyword, page=page, size=50)
            except VpbxError as error:
                _logger.info(
                    "VPBX extension lookup for employee %s failed: %s", self.id, error.code
                )
                self._vpbx_raise(error, "lookup")
            if not isinstance(payload, dict):
                break
            chunk = payload.get("items") or []
            items.extend(chunk)
            if not chunk or not payload.get("has_next"):
                break
            page += 1
        return items

    def _vpbx_store(self, creds, how):
        """Write the credentials, note it on the chatter (never the password); returns the
        message for the user."""
        self.ensure_one()
        vals = {
            "vpbx_pbx_id": self._vpbx_pbx().id,
            "vpbx_extension": creds["extension"],
            "vpbx_password": creds["password"],
            "vpbx_state": "provisioned",
            "vpbx_last_error": False,
        }
        if creds.get("domain"):
            vals["vpbx_domain"] = creds["domain"]
        if creds.get("agent_id"):
            vals["vpbx_agent_id"] = creds["agent_id"]
        self.write(vals)
        params = {
            "employee": self.name,
            "extension": self.vpbx_extension,
            "domain": self.vpbx_domain or "-",
        }
        if how == "created":
            message = self.env._(
                "%(employee)s was created on VPBX: extension %(extension)s on %(domain)s.",
                **params,
            )
        elif how == "existing":
            message = self.env._(
                "%(employee)s already existed on VPBX: the credentials of extension"
                " %(extension)s on %(domain)s were fetched.",
                **params,
            )
        else:
            message = self.env._(
                "The credentials of extension %(extension)s on %(domain)s were fetched from"
                " VPBX for %(employee)s.",
                **params,
            )
        self.message_post(body=message, subtype_xmlid="mail.mt_note")
        _logger.info(
            "VPBX extension %s stored on employee %s (%s)", self.vpbx_extension, self.id, how
        )
        return message
