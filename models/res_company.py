import logging
import secrets
import time
from urllib.parse import urlsplit

import psycopg2

from odoo import api, fields, models, tools
from odoo.exceptions import AccessError, UserError, ValidationError

from ..services.errors import VpbxError
from ..services.vpbx_client import DEFAULT_PATHS, TokenStore, VpbxClient

_logger = logging.getLogger(__name__)

MANAGER = "sentech_vpbx.group_vpbx_manager"
# Endpoint path settings: field name -> client path key
PATH_FIELDS = {f"vpbx_path_{key}": key for key in DEFAULT_PATHS}


def _path_field(key, label):
    return fields.Char(string=label, default=DEFAULT_PATHS[key], required=True)


class CompanyTokenStore(TokenStore):
    """The PBX access token kept on the company row, so every worker and node shares it.

    A refresh locks the row (NOWAIT) so that concurrent workers do not all refresh; a worker
    that cannot get the lock uses a token of its own for this request instead of waiting.
    """

    def __init__(self, company):
        super().__init__()
        self.company = company.sudo()

    def get(self):
        company = self.company
        expiry = company.vpbx_token_expiry
        return company.vpbx_access_token or None, expiry.timestamp() if expiry else None

    def refresh(self, fetch, stale_token=None):
        cr = self.company.env.cr
        try:
            with cr.savepoint(flush=False):
                cr.execute(
                    "SELECT vpbx_access_token, vpbx_token_expiry FROM res_company"
                    " WHERE id = %s FOR UPDATE NOWAIT",
                    [self.company.id],
                )
                token, expiry = cr.fetchone()
        except psycopg2.errors.LockNotAvailable:
            return fetch()
        except psycopg2.errors.SerializationFailure:
            return fetch()
        if token and expiry and token != stale_token:
            expires_at = expiry.timestamp()
            if expires_at - time.time() > 300:  # the client's refresh margin
                # another worker refreshed it while we were waiting
                self.company.invalidate_recordset(["vpbx_access_token", "vpbx_token_expiry"])
                return token, expires_at
        token, expires_at = fetch()
        cr.execute(
            "UPDATE res_company SET vpbx_access_token = %s, vpbx_token_expiry = %s WHERE id = %s",
            [token, fields.Datetime.to_string(_utc(expires_at)), self.company.id],
        )
        self.company.invalidate_recordset(["vpbx_access_token", "vpbx_token_expiry"])
        return token, expires_at


def _utc(epoch):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, tz=timezone.utc).replace(tzinfo=None)


class ResCompany(models.Model):
    _inherit = "res.company"

    vpbx_api_url = fields.Char(
        string="VPBX API URL",
        help="Base URL of the PBX API, e.g. https://public-v1.omicall.com (no trailing /api).",
    )
    vpbx_api_key = fields.Char(string="VPBX API Key", groups=MANAGER, copy=False)
    vpbx_auth_mode = fields.Selection(
        [
            ("bearer", "Bearer token from /api/auth"),
            ("api_key", "X-API-KEY header"),
            ("both", "Both"),
        ],
        string="VPBX Authentication",
        default="bearer",
        required=True,
    )
    vpbx_token_lifetime = fields.Float(
        string="VPBX Token Lifetime (hours)",
        default=23.0,
        help="The PBX does not say when a token expires; it is documented as valid for 24 hours.",
    )
    vpbx_timeout = fields.Float(string="VPBX Request Time-out (seconds)", default=10.0)
    vpbx_path_auth = _path_field("auth", "Path: access token")
    vpbx_path_agent_invite = _path_field("agent_invite", "Path: agent invite")
    vpbx_path_agent_list = _path_field("agent_list", "Path: agent list")
    vpbx_path_internal_phone_list = _path_field(
        "internal_phone_list", "Path: extension credentials"
    )
    vpbx_path_click2call = _path_field("click2call", "Path: click-to-call")
    vpbx_path_history_v2 = _path_field("history_v2", "Path: call history v2")
    vpbx_path_history_v3 = _path_field("history_v3", "Path: call history v3")
    vpbx_path_webhook_list = _path_field("webhook_list", "Path: list webhooks")
    vpbx_path_webhook_register = _path_field("webhook_register", "Path: register webhook")
    vpbx_path_webhook_destroy = _path_field("webhook_destroy", "Path: remove webhook")
    vpbx_webhook_token = fields.Char(
        string="VPBX Webhook Token", groups=MANAGER, copy=False, index="btree_not_null"
    )
    vpbx_webhook_url = fields.Char(
        string="VPBX Webhook URL", compute="_compute_vpbx_webhook_url", groups=MANAGER
    )
    # Cached access token: written by SQL only (see CompanyTokenStore), read by sudo only.
    vpbx_access_token = fields.Char(groups="base.group_system", copy=False)
    vpbx_token_expiry = fields.Datetime(groups="base.group_system", copy=False)

    @api.constrains("vpbx_api_url")
    def _check_vpbx_api_url(self):
        for company in self:
            if not company.vpbx_api_url:
                continue
            parts = urlsplit(company.vpbx_api_url.strip())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValidationError(
                    self.env._(
                        "The VPBX API URL must start with http:// or https:// and name a host,"
                        " e.g. https://public-v1.omicall.com (got %(url)s).",
                        url=company.vpbx_api_url,
                    )
                )

    @api.depends("vpbx_webhook_token")
    def _compute_vpbx_webhook_url(self):
        for company in self:
            company.vpbx_webhook_url = (
                company._vpbx_webhook_url(create=False) if company.vpbx_webhook_token else False
            )

    @api.model_create_multi
    def create(self, vals_list):
        companies = super().create(vals_list)
        if any(vals.get("vpbx_webhook_token") for vals in vals_list):
            self.env.registry.clear_cache()  # _vpbx_webhook_tokens
        return companies

    def unlink(self):
        with_token = any(company.sudo().vpbx_webhook_token for company in self)
        result = super().unlink()
        if with_token:
            self.env.registry.clear_cache()  # _vpbx_webhook_tokens
        return result

    def write(self, vals):
        if "vpbx_api_url" in vals or "vpbx_api_key" in vals or "vpbx_path_auth" in vals:
            # a token issued for another PBX or key must not be reused
            vals = dict(vals, vpbx_access_token=False, vpbx_token_expiry=False)
        if vals.get("vpbx_api_url"):
            vals["vpbx_api_url"] = vals["vpbx_api_url"].strip().rstrip("/")
        result = super().write(vals)
        if "vpbx_webhook_token" in vals:
            self.env.registry.clear_cache()  # _vpbx_webhook_tokens, in every worker
        return result

    # ------------------------------------------------------------------ webhook token

    def _vpbx_ensure_webhook_token(self):
        """The company's webhook secret, created on first need."""
        self.ensure_one()
        company = self.sudo()
        if not company.vpbx_webhook_token:
            company.vpbx_webhook_token = secrets.token_urlsafe(32)
        return company.vpbx_webhook_token

    def _vpbx_webhook_url(self, create=True):
        self.ensure_one()
        token = self._vpbx_ensure_webhook_token() if create else self.sudo().vpbx_webhook_token
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        return f"{base.rstrip('/')}/vpbx/webhook/{token}"

    def _vpbx_check_manager(self):
        """The buttons acting on the PBX or on the company's secrets (public methods: RPC can
        call them for any company id): VPBX managers only, on companies they may access."""
        if self.env.su:
            return
        if not self.env.user.has_group(MANAGER):
            raise AccessError(
                self.env._("Only VPBX managers can act on the VPBX connection of a company.")
            )
        self.check_access("read")

    def action_vpbx_regenerate_webhook_token(self):
        self.ensure_one()
        self._vpbx_check_manager()
        self.sudo().vpbx_webhook_token = secrets.token_urlsafe(32)
        return self._vpbx_notify(
            self.env._(
                "A new webhook URL was generated. Register it on the PBX again:"
                " deliveries to the old URL are now refused."
            ),
            "warning",
        )

    @api.model
    def _vpbx_company_from_webhook_token(self, token):
        """Company whose webhook token equals `token`, compared in constant time."""
        if not token or len(token) > 256:
            return self.browse()
        found = self.browse()
        for company_id, stored in self._vpbx_webhook_tokens():
            # compare against every company so timing does not reveal which prefix matched
            if secrets.compare_digest(stored.encode(), token.encode()):
                found = self.browse(company_id)
        return found

    @api.model
    @tools.ormcache()
    def _vpbx_webhook_tokens(self):
        """((company id, token), ...) of every company with a webhook token.

        Read on every delivery, so cached per worker; ``write`` empties the cache of every
        worker when a token changes (Odoo's cache signaling).
        """
        self.flush_model(["vpbx_webhook_token"])
        self.env.cr.execute(
            "SELECT id, vpbx_webhook_token FROM res_company WHERE vpbx_webhook_token IS NOT NULL"
        )
        return tuple(self.env.cr.fetchall())

    # ------------------------------------------------------------------ client

    def _vpbx_client(self):
        """A VpbxClient configured from this company's settings."""
        self.ensure_one()
        company = self.sudo()
        if not company.vpbx_api_url:
            raise UserError(
                self.env._(
                    "SENTECH VPBX is not configured for %(company)s: set the API URL in"
                    " Settings > SENTECH VPBX.",
                    company=company.name,
                )
            )
        if not company.vpbx_api_key:
            raise UserError(
                self.env._(
                    "SENTECH VPBX is not configured for %(company)s: set the API key in"
                    " Settings > SENTECH VPBX.",
                    company=company.name,
                )
            )
        return VpbxClient(
            company.vpbx_api_url,
            company.vpbx_api_key,
            auth_mode=company.vpbx_auth_mode or "bearer",
            timeout=company.vpbx_timeout or 10.0,
            paths={key: company[fname] for fname, key in PATH_FIELDS.items() if company[fname]},
            token_store=CompanyTokenStore(company),
            token_lifetime=int((company.vpbx_token_lifetime or 23.0) * 3600),
            logger=_logger,
        )

    def _vpbx_error_message(self, error):
        """The translated text of a VpbxError (it also shows the raw PBX code)."""
        return error.render(self.env._)

    def _vpbx_user_error(self, error):
        return UserError(self._vpbx_error_message(error))

    def _vpbx_notify(self, message, kind="success", sticky=False, title=None):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title or self.env._("SENTECH VPBX"),
                "message": message,
                "type": kind,
                "sticky": sticky,
            },
        }

    def action_vpbx_test_connection(self):
        self.ensure_one()
        self._vpbx_check_manager()
        client = self._vpbx_client()
        try:
            summary = client.test_connection()
        except VpbxError as error:
            _logger.info("VPBX test connection failed for company %s: %s", self.id, error.code)
            raise self._vpbx_user_error(error) from None
        agents = summary.get("agents")
        if agents is None:
            message = self.env._("Connected to VPBX at %(url)s.", url=client.base_url)
        else:
            message = self.env._(
                "Connected to VPBX at %(url)s: %(count)s agents on the PBX.",
                url=client.base_url,
                count=agents,
            )
        return self._vpbx_notify(message)
