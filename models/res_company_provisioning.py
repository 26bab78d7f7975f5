from odoo import fields, models

from ..services import provisioning

# Logical invite field -> company setting holding the request field name
INVITE_FIELD_SETTINGS = {
    "full_name": "vpbx_invite_field_name",
    "email": "vpbx_invite_field_email",
    "password": "vpbx_invite_field_password",
    "role": "vpbx_invite_field_role",
    "extension": "vpbx_invite_field_extension",
}
# Credential -> company setting holding its extraction paths
EXTRACT_PATH_SETTINGS = {
    "domain": "vpbx_invite_path_domain",
    "extension": "vpbx_invite_path_extension",
    "password": "vpbx_invite_path_password",
    "agent_id": "vpbx_invite_path_agent_id",
}


class ResCompany(models.Model):
    """How to talk to the PBX's agent invite, whose body is not published."""

    _inherit = "res.company"

    vpbx_invite_field_name = fields.Char(
        string="Invite Field: Full Name",
        default="full_name",
        help="Name of the request field carrying the employee's name. Empty: not sent.",
    )
    vpbx_invite_field_email = fields.Char(
        string="Invite Field: E-mail",
        default="identify_info",
        help="Name of the request field carrying the work e-mail. Empty: not sent.",
    )
    vpbx_invite_field_password = fields.Char(
        string="Invite Field: Password",
        default="password",
        help="Name of the request field carrying a generated password (8+ characters with upper"
        " and lower case, a digit and a special character). Empty: no password is sent and the"
        " PBX chooses one.",
    )
    vpbx_invite_field_role = fields.Char(
        string="Invite Field: Role",
        default="role",
        help="Name of the request field carrying the role. Empty: not sent.",
    )
    vpbx_invite_role = fields.Char(
        string="Invite Role",
        default="agent",
        help="Role given to new agents on the PBX.",
    )
    vpbx_invite_field_extension = fields.Char(
        string="Invite Field: Extension",
        help="Name of the request field carrying the wanted extension, when the employee"
        " already has one typed in. Empty (default): the PBX chooses the extension.",
    )
    vpbx_invite_path_domain = fields.Char(
        string="Reply Paths: Domain",
        default=provisioning.DEFAULT_PATHS["domain"],
        help="Comma-separated dotted paths in the invite reply, tried in order. The last part of"
        " each path is also the key read in extension lists.",
    )
    vpbx_invite_path_extension = fields.Char(
        string="Reply Paths: Extension",
        default=provisioning.DEFAULT_PATHS["extension"],
        help="Comma-separated dotted paths in the invite reply, tried in order.",
    )
    vpbx_invite_path_password = fields.Char(
        string="Reply Paths: Password",
        default=provisioning.DEFAULT_PATHS["password"],
        help="Comma-separated dotted paths in the invite reply, tried in order.",
    )
    vpbx_invite_path_agent_id = fields.Char(
        string="Reply Paths: Agent ID",
        default=provisioning.DEFAULT_PATHS["agent_id"],
        help="Comma-separated dotted paths in the invite reply, tried in order.",
    )

    def _vpbx_invite_fields(self):
        """Logical invite field -> request field name (empty: not sent)."""
        self.ensure_one()
        return {logical: self[fname] or "" for logical, fname in INVITE_FIELD_SETTINGS.items()}

    def _vpbx_extract_paths(self):
        """Credential -> dotted paths; an emptied setting falls back to the default."""
        self.ensure_one()
        return {
            credential: self[fname] or provisioning.DEFAULT_PATHS[credential]
            for credential, fname in EXTRACT_PATH_SETTINGS.items()
        }
