import logging

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..services import provisioning
from ..services.errors import VpbxError

_logger = logging.getLogger(__name__)

MANAGER = "sentech_vpbx.group_vpbx_manager"
# Pages of internal_phone/list read when looking an employee up (50 items each).
LOOKUP_MAX_PAGES = 20


class HrEmployee(models.Model):
    """PBX extension of an employee: credentials, provisioning through the PBX API.

    Secrets: ``vpbx_password`` is readable by VPBX managers only; the employee's own user reads
    it through ``vpbx_softphone_password``, which is empty for anybody else. hr.employee fields
    missing from hr.employee.public carry ``groups`` so that non-HR users never prefetch them.
    """

    _inherit = "hr.employee"

    vpbx_domain = fields.Char(string="VPBX Domain", copy=False, tracking=True)
    vpbx_extension = fields.Char(
        string="VPBX Extension",
        copy=False,
        tracking=True,
        index="btree_not_null",
        help="The extension's user name on the PBX, e.g. 101. Unique per company.",
    )
    vpbx_password = fields.Char(
        string="VPBX Password",
        copy=False,
        groups=MANAGER,
        # its own prefetch group: never loaded along with the other fields of the employee
        prefetch="vpbx_secret",
    )
    vpbx_softphone_password = fields.Char(
        string="Softphone Password",
        compute="_compute_vpbx_softphone_password",
        help="The extension password, shown to the employee's own user and to VPBX managers.",
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

    @api.depends("vpbx_extension")
    def _compute_vpbx_state(self):
        for employee in self:
            employee.vpbx_state = "provisioned" if employee.vpbx_extension else "none"
            employee.vpbx_last_error = False

    @api.depends_context("uid")
    @api.depends("user_id")
    def _compute_vpbx_softphone_password(self):
        is_manager = self.env.user.has_group(MANAGER)
        for employee in self:
            employee_sudo = employee.sudo()
            allowed = is_manager or (
                employee_sudo.user_id and employee_sudo.user_id == self.env.user
            )
            employee.vpbx_softphone_password = employee_sudo.vpbx_password if allowed else False

    @api.constrains("vpbx_extension", "company_id")
    def _check_vpbx_extension_unique(self):
        for employee in self.filtered("vpbx_extension"):
            other = (
                self.sudo()
                .with_context(active_test=False)
                .search(
                    [
                        ("id", "!=", employee.id),
                        ("vpbx_extension", "=", employee.vpbx_extension),
                        ("company_id", "=", employee.company_id.id),
                    ],
                    limit=1,
                )
            )
            if other:
                raise ValidationError(
                    self.env._(
                        "VPBX extension %(extension)s is already used by %(other)s in"
                        " %(company)s: an extension belongs to one employee only.",
                        extension=employee.vpbx_extension,
                        other=other.name,
                        company=employee.company_id.name,
                    )
                )

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

    def _vpbx_check_manager(self):
        if not self.env.su and not self.env.user.has_group(MANAGER):
            raise AccessError(
                self.env._("Only VPBX managers can create or fetch extensions on VPBX.")
            )

    def action_vpbx_invite(self):
        """Create the employee as an agent on the PBX and store its credentials."""
        self.ensure_one()
        self._vpbx_check_manager()
        message = self._vpbx_invite()
        return self._vpbx_notify_and_reload(self._vpbx_company(), message)

    def action_vpbx_fetch(self):
        """Read the credentials of the employee's existing extension from the PBX."""
        self.ensure_one()
        self._vpbx_check_manager()
        company = self._vpbx_company()
        client = self._vpbx_client_or_raise(company)
        creds = self._vpbx_lookup(client, company)
        message = self._vpbx_store(creds, "fetched")
        return self._vpbx_notify_and_reload(company, message)

    @api.model
    def _vpbx_notify_and_reload(self, company, message):
        """The success notification, then a reload of the open form to show the extension."""
        action = company._vpbx_notify(message)
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

    def _vpbx_company(self):
        self.ensure_one()
        return self.company_id or self.env.company

    def _vpbx_client_or_raise(self, company):
        try:
            return company._vpbx_client()
        except VpbxError as error:
            raise company._vpbx_user_error(error) from None

    def _vpbx_raise(self, error, what):
        """Turn a VpbxError into a UserError naming the employee."""
        company = self._vpbx_company()
        reason = company._vpbx_error_message(error)
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
        company = self._vpbx_company()
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
        client = self._vpbx_client_or_raise(company)
        settings = company.sudo()
        invite_fields = settings._vpbx_invite_fields()
        body = provisioning.build_invite_body(
            invite_fields,
            {
                "full_name": self.name.strip(),
                "email": self.work_email.strip(),
                "password": provisioning.generate_password() if invite_fields["password"] else None,
                "role": settings.vpbx_invite_role,
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
            creds = self._vpbx_lookup(client, company, after_agent_exists=True)
            return self._vpbx_store(creds, "existing")
        paths = settings._vpbx_extract_paths()
        creds = provisioning.extract_credentials(envelope, paths)
        if not creds["extension"] or not creds["password"]:
            # the reply does not carry them where the settings say: ask the extension list
            try:
                found = self._vpbx_lookup(client, company)
            except UserError as error:
                raise UserError(
                    self.env._(
                        "VPBX created %(employee)s as an agent, but its reply has no extension"
                        " or password at the configured reply paths (Settings > SENTECH VPBX >"
                        " Provisioning), and looking it up failed: %(reason)s",
                        employee=self.name,
                        reason=error.args[0],
                    )
                ) from None
            creds = {key: creds[key] or found[key] for key in provisioning.CREDENTIALS}
        return self._vpbx_store(creds, "created")

    def _vpbx_lookup(self, client, company, after_agent_exists=False):
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
        paths = company.sudo()._vpbx_extract_paths()
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


class HrEmployeePublic(models.Model):
    _inherit = "hr.employee.public"

    # Like the work phone: colleagues may see an extension, never its password.
    vpbx_domain = fields.Char(string="VPBX Domain", readonly=True)
    vpbx_extension = fields.Char(string="VPBX Extension", readonly=True)
    vpbx_softphone_password = fields.Char(
        string="Softphone Password",
        compute="_compute_vpbx_softphone_password",
        help="The extension password, shown to the employee's own user only.",
    )

    @api.depends_context("uid")
    @api.depends("user_id")
    def _compute_vpbx_softphone_password(self):
        is_manager = self.env.user.has_group(MANAGER)
        for public in self:
            employee = self.env["hr.employee"].sudo().browse(public.id)
            allowed = is_manager or (employee.user_id and employee.user_id == self.env.user)
            public.vpbx_softphone_password = employee.vpbx_password if allowed else False
