"""A PBX account: one SENTECH VPBX tenant, its connection and everything set per tenant.

A company may have several accounts (two branches on two tenants). The webhook token in the URL
identifies the account; an employee's extension, a call, a webhook event and a history import
each belong to one account. The history sync's cursor and progress live on ``vpbx.sync.state``,
so that a sync writing page after page never touches the row an administrator is saving.
"""

import dataclasses
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from urllib.parse import urlsplit

import psycopg2

from odoo import api, fields, models, tools
from odoo.exceptions import AccessError, UserError, ValidationError

from ..const import (
    ACTION_CALLS,
    ACTION_NEW_HISTORY_IMPORT,
    ACTION_ROUTE_LOG,
    ACTION_WEBHOOK_EVENTS,
    CALL_EVENT_TYPE,
    CRON_PURGE,
    GROUP_MANAGER,
    GROUP_SYSTEM,
)
from ..services import history_sync, provisioning
from ..services.call_mapping import CallMapping, parse_record
from ..services.errors import PayloadError, VpbxError
from ..services.hotline_sources import hotline_source
from ..services.partner_keys import DEFAULT_REGION
from ..services.phone import national_number, normalize
from ..services.retention import DEFAULT_EVENT_DAYS
from ..services.routing import RouteSettings
from ..services.transaction import in_new_transaction
from ..services.vpbx_client import DEFAULT_PATHS, TokenNeeded, TokenStore, VpbxClient
from .vpbx_lead_day import LEAD_CREATION

_logger = logging.getLogger(__name__)

_DEFAULT_MAPPING = CallMapping()
#: The pager's "no page fetched ahead" (a page's payload may be None)
_NOT_FETCHED = object()
#: Endpoint path fields: field name -> client path key
PATH_FIELDS = {f"path_{key}": key for key in DEFAULT_PATHS}
#: A queued delivery still not stored after this many minutes: the scheduled actions do not run
#: (the queue's own run takes it within a second; the retry job after CRON_DELAY_MINUTES).
QUEUE_STALE_MINUTES = 5
#: Logical invite field -> field holding the request field name
INVITE_FIELDS = {
    "full_name": "invite_field_name",
    "email": "invite_field_email",
    "password": "invite_field_password",
    "role": "invite_field_role",
    "extension": "invite_field_extension",
}
#: Credential -> field holding its reply paths
REPLY_PATH_FIELDS = {
    "domain": "invite_path_domain",
    "extension": "invite_path_extension",
    "password": "invite_path_password",
    "agent_id": "invite_path_agent_id",
}
#: Writing one of these clears the cached token: a token of another PBX or key is no use
TOKEN_KEYS = frozenset({"api_url", "api_key", "path_auth"})
#: Fields written by SQL only, whose change clears no cache
TOKEN_CACHE_FIELDS = frozenset({"access_token", "token_expiry"})
NUMBER_FORMATS = [
    ("national", "National (0912345678)"),
    ("e164", "International (+84912345678)"),
    ("e164_no_plus", "International without + (84912345678)"),
]


@dataclasses.dataclass(frozen=True)
class CallSettings:
    """What storing a call record reads of its account: read once per delivery or page."""

    pbx_id: int
    company_id: int
    mapping: CallMapping
    region: str
    post_call_note: bool
    click2call_match_minutes: int
    webhook_queued: bool
    missed_call_user_id: int | None
    # CRM: new leads from unknown callers (never / missed / inbound) and hotline sources
    lead_creation: str = "never"
    lead_sources: tuple = ()


def _path_field(key, label):
    return fields.Char(string=label, default=DEFAULT_PATHS[key], required=True)


def _split(text):
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _utc(epoch):
    return datetime.fromtimestamp(epoch, tz=timezone.utc).replace(tzinfo=None)


class PbxTokenStore(TokenStore):
    """The PBX access token kept on the account row, so that every worker and node shares it.

    A refresh locks the row (NOWAIT) so that concurrent workers do not all refresh; a worker
    that cannot get the lock uses a token of its own for this request instead of waiting.
    """

    def __init__(self, pbx):
        super().__init__()
        self.pbx = pbx.sudo()

    def get(self):
        expiry = self.pbx.token_expiry
        return self.pbx.access_token or None, expiry.timestamp() if expiry else None

    def refresh(self, fetch, stale_token=None):
        cr = self.pbx.env.cr
        try:
            with cr.savepoint(flush=False):
                cr.execute(
                    "SELECT access_token, token_expiry FROM vpbx_pbx"
                    " WHERE id = %s FOR UPDATE NOWAIT",
                    [self.pbx.id],
                )
                token, expiry = cr.fetchone()
        except (psycopg2.errors.LockNotAvailable, psycopg2.errors.SerializationFailure):
            return fetch()
        if token and expiry and token != stale_token:
            expires_at = expiry.timestamp()
            if expires_at - time.time() > 300:  # the client's refresh margin
                # another worker refreshed it while we were waiting
                self.pbx.invalidate_recordset(list(TOKEN_CACHE_FIELDS))
                return token, expires_at
        token, expires_at = fetch()
        cr.execute(
            "UPDATE vpbx_pbx SET access_token = %s, token_expiry = %s WHERE id = %s",
            [token, fields.Datetime.to_string(_utc(expires_at)), self.pbx.id],
        )
        self.pbx.invalidate_recordset(list(TOKEN_CACHE_FIELDS))
        return token, expires_at


class VpbxPbx(models.Model):
    _name = "vpbx.pbx"
    _description = "VPBX PBX Account"
    _order = "sequence, id"
    _check_company_auto = True

    name = fields.Char(string="Name", required=True, help="e.g. the tenant or the branch.")
    active = fields.Boolean(string="Active", default=True)
    sequence = fields.Integer(
        string="Sequence",
        default=10,
        help="The company's first account is the default one of its employees and calls.",
    )
    company_id = fields.Many2one(
        "res.company",
        string="Company",
        required=True,
        index=True,
        default=lambda self: self.env.company,
    )

    # ---------------------------------------------------------------- connection
    api_url = fields.Char(
        string="API URL",
        help="Base URL of the PBX API, e.g. https://public-v1.omicall.com (no trailing /api).",
    )
    api_key = fields.Char(string="API Key", groups=GROUP_MANAGER, copy=False)
    auth_mode = fields.Selection(
        [
            ("bearer", "Bearer token from /api/auth"),
            ("api_key", "X-API-KEY header"),
            ("both", "Both"),
        ],
        string="Authentication",
        default="bearer",
        required=True,
    )
    token_lifetime = fields.Float(
        string="Token Lifetime (hours)",
        default=23.0,
        help="The PBX does not say when a token expires; it is documented as valid for 24 hours.",
    )
    timeout = fields.Float(string="Request Time-out (seconds)", default=10.0)
    path_auth = _path_field("auth", "Path: access token")
    path_agent_invite = _path_field("agent_invite", "Path: agent invite")
    path_agent_list = _path_field("agent_list", "Path: agent list")
    path_internal_phone_list = _path_field("internal_phone_list", "Path: extension credentials")
    path_click2call = _path_field("click2call", "Path: click-to-call")
    path_history_v2 = _path_field("history_v2", "Path: call history v2")
    path_history_v3 = _path_field("history_v3", "Path: call history v3")
    path_webhook_list = _path_field("webhook_list", "Path: list webhooks")
    path_webhook_register = _path_field("webhook_register", "Path: register webhook")
    path_webhook_destroy = _path_field("webhook_destroy", "Path: remove webhook")
    # cached access token: written by SQL only (PbxTokenStore), read by sudo only
    access_token = fields.Char(groups=GROUP_SYSTEM, copy=False)
    token_expiry = fields.Datetime(groups=GROUP_SYSTEM, copy=False)

    # ---------------------------------------------------------------- webhook
    webhook_token = fields.Char(
        string="Webhook Token", groups=GROUP_MANAGER, copy=False, index="btree_not_null"
    )
    webhook_url = fields.Char(
        string="Webhook URL", compute="_compute_webhook_url", groups=GROUP_MANAGER
    )
    webhook_register_wrapped = fields.Boolean(
        string="Webhook Body Wrapped",
        default=True,
        help='Register with {"webhook": {...}} (documented); off: the fields at the top level.',
    )
    webhook_register_type = fields.Char(
        string="Webhook Type", default="call", help="Type of the call webhook, e.g. call."
    )
    webhook_register_events = fields.Char(
        string="Live Call Events",
        help="Comma-separated live events (e.g. ringing,answered,hangup): when set, a"
        " call_event webhook with these events is registered too.",
    )

    # ---------------------------------------------------------------- calls
    answered_dispositions = fields.Char(
        string="Answered Dispositions",
        default=",".join(_DEFAULT_MAPPING.answered_dispositions),
        help="Comma-separated dispositions that mean the call was answered.",
    )
    missed_dispositions = fields.Char(
        string="Missed Dispositions",
        default=",".join(_DEFAULT_MAPPING.missed_dispositions),
        help="Comma-separated dispositions that mean the call was not answered.",
    )
    live_states = fields.Char(
        string="Live States",
        default=",".join(_DEFAULT_MAPPING.live_states),
        help="Comma-separated values of 'state' that mark a live event (the call goes on); any"
        " other state, or none, is a finished call.",
    )
    post_call_note = fields.Boolean(
        string="Call Note on Contact",
        default=True,
        help="Post a short note on the contact's chatter when a call ends.",
    )
    webhook_queued = fields.Boolean(
        string="Queue Webhook Deliveries",
        default=True,
        help="Answer the PBX as soon as a delivery is stored, and store its calls a moment later"
        " in the background, many at a time (a scheduled action that the deliveries wake up):"
        " the fastest answer and the most calls per second. Live events (a phone ringing) are"
        " always processed at once. Needs Odoo's scheduled actions to run; the account warns"
        " when deliveries wait. Off: each delivery is processed before the answer.",
    )
    missed_call_user_id = fields.Many2one(
        "res.users",
        string="Missed Call Fallback User",
        check_company=True,
        help="Gets the 'Call back' activity of a missed inbound call when no agent is known.",
    )

    # ---------------------------------------------------------------- click-to-call
    hotline = fields.Char(
        string="Hotline",
        help="Outbound number (caller ID) sent with click-to-call; an employee may have their"
        " own. Empty: the PBX chooses.",
    )
    click2call_number_format = fields.Selection(
        NUMBER_FORMATS,
        string="Click-to-Call Number Format",
        default="national",
        required=True,
        help="How the customer's number is written in click-to-call requests.",
    )
    click2call_match_minutes = fields.Integer(
        string="Click-to-Call Match Window (minutes)",
        default=10,
        help="A call record the PBX sends with an id of its own completes the pending"
        " click-to-call of the same extension and number started within this many minutes.",
    )

    # ---------------------------------------------------------------- CRM
    lead_creation = fields.Selection(
        LEAD_CREATION,
        string="New Leads from Unknown Callers",
        default="never",
        required=True,
        help="An inbound call from a number that no contact and no open lead has makes a lead"
        " (one per number and day): never, for missed calls only, or for every inbound call.",
    )
    lead_source_ids = fields.One2many(
        "vpbx.pbx.lead.source",
        "pbx_id",
        string="Lead Sources by Hotline",
        help="The source and sales team of a new lead, by the hotline the customer called.",
    )
    route_enabled = fields.Boolean(
        string="Route Callers to Their Salesperson",
        default=True,
        help="Answer the PBX's routing request (at ring time) with the extension of the"
        " caller's salesperson. Off: every request gets an empty answer, and the PBX routes"
        " by its own rules.",
    )
    route_api_key = fields.Char(
        string="Routing API Key",
        groups=GROUP_MANAGER,
        copy=False,
        help="When set, a routing request must carry this key in its X-API-KEY header (the key"
        " configured on the PBX's side).",
    )
    route_team_members = fields.Boolean(
        string="Ring the Salesperson's Team Too",
        help="After the salesperson, ring the other members of their sales team.",
    )
    route_url = fields.Char(
        string="Routing URL", compute="_compute_webhook_url", groups=GROUP_MANAGER
    )
    route_log_count = fields.Integer(
        string="Routing Answers", compute="_compute_route_log_count", groups=GROUP_MANAGER
    )

    # ---------------------------------------------------------------- provisioning
    invite_field_name = fields.Char(
        string="Invite Field: Full Name",
        default="full_name",
        help="Name of the request field carrying the employee's name. Empty: not sent.",
    )
    invite_field_email = fields.Char(
        string="Invite Field: E-mail",
        default="identify_info",
        help="Name of the request field carrying the work e-mail. Empty: not sent.",
    )
    invite_field_password = fields.Char(
        string="Invite Field: Password",
        default="password",
        help="Name of the request field carrying a generated password (8+ characters with upper"
        " and lower case, a digit and a special character). Empty: no password is sent and the"
        " PBX chooses one.",
    )
    invite_field_role = fields.Char(
        string="Invite Field: Role",
        default="role",
        help="Name of the request field carrying the role. Empty: not sent.",
    )
    invite_role = fields.Char(
        string="Invite Role", default="agent", help="Role given to new agents on the PBX."
    )
    invite_field_extension = fields.Char(
        string="Invite Field: Extension",
        help="Name of the request field carrying the wanted extension, when the employee"
        " already has one typed in. Empty (default): the PBX chooses the extension.",
    )
    invite_path_domain = fields.Char(
        string="Reply Paths: Domain",
        default=provisioning.DEFAULT_PATHS["domain"],
        help="Comma-separated dotted paths in the invite reply, tried in order. The last part of"
        " each path is also the key read in extension lists.",
    )
    invite_path_extension = fields.Char(
        string="Reply Paths: Extension",
        default=provisioning.DEFAULT_PATHS["extension"],
        help="Comma-separated dotted paths in the invite reply, tried in order.",
    )
    invite_path_password = fields.Char(
        string="Reply Paths: Password",
        default=provisioning.DEFAULT_PATHS["password"],
        help="Comma-separated dotted paths in the invite reply, tried in order.",
    )
    invite_path_agent_id = fields.Char(
        string="Reply Paths: Agent ID",
        default=provisioning.DEFAULT_PATHS["agent_id"],
        help="Comma-separated dotted paths in the invite reply, tried in order.",
    )

    # ---------------------------------------------------------------- history sync
    sync_enabled = fields.Boolean(
        string="History Sync",
        compute="_compute_sync_enabled",
        store=True,
        readonly=False,
        help="Pull the call history from the PBX every few minutes, so that calls whose webhook"
        " never arrived are logged too. On by default once the API URL and key are set.",
    )
    history_version = fields.Selection(
        [("v2", "v2 (callTransaction/search)"), ("v3", "v3 (call-transaction/search)")],
        string="History API",
        default="v2",
        required=True,
    )
    history_time_unit = fields.Selection(
        [("ms", "Milliseconds"), ("s", "Seconds")],
        string="History Date Unit",
        default="ms",
        required=True,
        help="Unit of fromDate/toDate in history searches.",
    )
    sync_overlap = fields.Integer(
        string="Sync Overlap (minutes)",
        default=30,
        help="Each sync starts this long before the end of the previous one: a call still going"
        " on at the last sync is listed once it ends, with its start time before that.",
    )
    # one row (vpbx.sync.state): the sync writes it page by page, never this account's row
    sync_state_ids = fields.One2many(
        "vpbx.sync.state", "pbx_id", string="Sync State", groups=GROUP_MANAGER
    )
    sync_cursor = fields.Datetime(related="sync_state_ids.cursor")
    sync_last_run = fields.Datetime(related="sync_state_ids.last_run")
    sync_last_attempt = fields.Datetime(related="sync_state_ids.last_attempt")
    sync_last_count = fields.Integer(related="sync_state_ids.last_count")
    sync_last_new = fields.Integer(related="sync_state_ids.last_new")
    sync_last_error = fields.Text(related="sync_state_ids.last_error")
    sync_next_page = fields.Integer(related="sync_state_ids.next_page")

    # ---------------------------------------------------------------- retention
    retention_event_days = fields.Integer(
        string="Keep Webhook Events (days)",
        default=DEFAULT_EVENT_DAYS,
        help="Raw webhook deliveries (they hold customers' numbers) older than this are removed"
        " by the daily purge once processed, ignored or rejected; new and failed ones are"
        " always kept. 0: kept for ever.",
    )
    retention_call_days = fields.Integer(
        string="Keep Calls (days)",
        default=0,
        help="Calls that started longer ago than this are removed by the daily purge, with"
        " their chatter and activities (the note in the contact's chatter stays). 0: kept for"
        " ever.",
    )
    recording_archive = fields.Boolean(
        string="Archive Recordings",
        help="Keep a copy of each call's recording in Odoo's filestore (a scheduled action"
        " fetches it from the PBX, whose links may expire).",
    )
    recording_max_mb = fields.Integer(
        string="Largest Recording (MB)",
        default=50,
        help="A recording larger than this is not archived; it still plays from the PBX.",
    )
    recording_timeout = fields.Float(
        string="Recording Download Time-out (seconds)",
        default=30.0,
        help="Time allowed for the whole download of one recording; tried again later.",
    )
    recording_allowed_hosts = fields.Char(
        string="Private Recording Hosts",
        groups=GROUP_MANAGER,
        help="Recordings are fetched from public addresses only. List here, comma-separated,"
        " the host names or addresses of your own PBX on a private network, if it serves them"
        " from there.",
    )
    recording_keep_days = fields.Integer(
        string="Keep Archived Recordings (days)",
        default=0,
        help="Archived recordings older than this are removed from Odoo's filestore (the player"
        " then goes back to the PBX's link). 0: kept as long as the call.",
    )
    # written by the purge (SQL): what its last run removed
    retention_last_run = fields.Datetime(string="Last Purge", readonly=True, copy=False)
    retention_last_events = fields.Integer(
        string="Webhook Events Removed", readonly=True, copy=False
    )
    retention_last_calls = fields.Integer(string="Calls Removed", readonly=True, copy=False)
    retention_last_recordings = fields.Integer(
        string="Archived Recordings Removed", readonly=True, copy=False
    )
    retention_last_complete = fields.Boolean(
        string="Last Purge Complete",
        default=True,
        readonly=True,
        copy=False,
        help="Off while a purge cut short by its time budget is being continued.",
    )

    # ---------------------------------------------------------------- status at a glance
    last_webhook_at = fields.Datetime(
        string="Last Webhook Received", compute="_compute_event_status"
    )
    failed_event_count = fields.Integer(
        string="Failed Webhook Events", compute="_compute_event_status"
    )
    waiting_event_count = fields.Integer(
        string="Deliveries Waiting Too Long",
        compute="_compute_event_status",
        help="Queued webhook deliveries received more than a few minutes ago and not stored yet:"
        " Odoo's scheduled actions are not running.",
    )
    call_count = fields.Integer(string="Calls", compute="_compute_call_count")

    _sql_constraints = [
        (
            "webhook_token_uniq",
            "unique(webhook_token)",
            "Each PBX account has its own webhook URL.",
        ),
    ]

    # ---------------------------------------------------------------- computes and checks

    @api.constrains("api_url")
    def _check_api_url(self):
        for pbx in self:
            if not pbx.api_url:
                continue
            parts = urlsplit(pbx.api_url.strip())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValidationError(
                    self.env._(
                        "The VPBX API URL must start with http:// or https:// and name a host,"
                        " e.g. https://public-v1.omicall.com (got %(url)s).",
                        url=pbx.api_url,
                    )
                )

    @api.constrains("retention_event_days", "retention_call_days", "recording_keep_days")
    def _check_retention_days(self):
        for pbx in self:
            days = (pbx.retention_event_days, pbx.retention_call_days, pbx.recording_keep_days)
            if min(days) < 0:
                raise ValidationError(
                    self.env._(
                        "Retention periods are a number of days, 0 to keep for ever (got"
                        " %(events)s days for webhook events, %(calls)s days for calls,"
                        " %(recordings)s days for archived recordings).",
                        events=pbx.retention_event_days,
                        calls=pbx.retention_call_days,
                        recordings=pbx.recording_keep_days,
                    )
                )

    @api.depends("webhook_token")
    def _compute_webhook_url(self):
        for pbx in self:
            url = pbx._vpbx_webhook_url(create=False) if pbx.webhook_token else False
            pbx.webhook_url = url
            # the routing callback has the same secret in its URL
            pbx.route_url = url and url.replace("/vpbx/webhook/", "/vpbx/route/", 1)

    def _compute_route_log_count(self):
        counts = dict(
            self.env["vpbx.route.log"]
            .sudo()
            ._read_group([("pbx_id", "in", self.ids)], ["pbx_id"], ["__count"])
        )
        for pbx in self:
            pbx.route_log_count = counts.get(pbx._origin, 0)

    def action_open_route_logs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(ACTION_ROUTE_LOG)
        action["domain"] = [("pbx_id", "=", self.id)]
        action["context"] = {}
        return action

    @api.depends("api_url", "api_key")
    def _compute_sync_enabled(self):
        for pbx in self:
            configured = pbx.sudo()
            pbx.sync_enabled = bool(configured.api_url and configured.api_key)

    def _compute_event_status(self):
        Event = self.env["vpbx.webhook.event"].sudo()
        last = dict(
            Event._read_group([("pbx_id", "in", self.ids)], ["pbx_id"], ["received_at:max"])
        )
        failed = dict(
            Event._read_group(
                [("pbx_id", "in", self.ids), ("state", "=", "failed")], ["pbx_id"], ["__count"]
            )
        )
        stale = fields.Datetime.subtract(fields.Datetime.now(), minutes=QUEUE_STALE_MINUTES)
        waiting = dict(
            Event._read_group(
                [
                    ("pbx_id", "in", self.ids),
                    ("state", "=", "new"),
                    ("received_at", "<", stale),
                ],
                ["pbx_id"],
                ["__count"],
            )
        )
        for pbx in self:
            pbx.last_webhook_at = last.get(pbx._origin, False)
            pbx.failed_event_count = failed.get(pbx._origin, 0)
            pbx.waiting_event_count = waiting.get(pbx._origin, 0)

    def _compute_call_count(self):
        counts = dict(
            self.env["vpbx.call"]._read_group([("pbx_id", "in", self.ids)], ["pbx_id"], ["__count"])
        )
        for pbx in self:
            pbx.call_count = counts.get(pbx._origin, 0)

    # ---------------------------------------------------------------- create / write

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("api_url"):
                vals["api_url"] = vals["api_url"].strip().rstrip("/")
        accounts = super().create(vals_list)
        for pbx in accounts.sudo():
            if not pbx.webhook_token:
                pbx.webhook_token = secrets.token_urlsafe(32)
        # the company's extensions typed in before it had an account belong to its first one
        self.env["hr.employee"].sudo()._vpbx_assign_default_pbx(accounts.company_id)
        self.env.registry.clear_cache()  # webhook tokens, in every worker
        return accounts

    def write(self, vals):
        if vals.get("api_url"):
            vals = dict(vals, api_url=vals["api_url"].strip().rstrip("/"))
        result = super().write(vals)
        if not TOKEN_KEYS.isdisjoint(vals):
            # a token of another PBX or key is no use (system-only fields: written as such)
            super(VpbxPbx, self.sudo()).write({"access_token": False, "token_expiry": False})
        if not TOKEN_CACHE_FIELDS.issuperset(vals):
            # CallSettings and webhook tokens, in every worker (Odoo's cache signaling)
            self.env.registry.clear_cache()
        return result

    def unlink(self):
        result = super().unlink()
        self.env.registry.clear_cache()
        return result

    # ---------------------------------------------------------------- cached reads

    def _vpbx_call_settings(self):
        """This account's CallSettings, cached per worker (every delivery needs them)."""
        self.ensure_one()
        return self._vpbx_call_settings_cached(self.id)

    @api.model
    @tools.ormcache("pbx_id")
    def _vpbx_call_settings_cached(self, pbx_id):
        pbx = self.sudo().browse(pbx_id)
        return CallSettings(
            pbx_id=pbx.id,
            company_id=pbx.company_id.id,
            mapping=CallMapping.from_settings(
                answered=pbx.answered_dispositions,
                missed=pbx.missed_dispositions,
                live_states=pbx.live_states,
            ),
            region=pbx.company_id.country_id.code or DEFAULT_REGION,
            post_call_note=pbx.post_call_note,
            click2call_match_minutes=pbx.click2call_match_minutes,
            webhook_queued=pbx.webhook_queued,
            missed_call_user_id=pbx.missed_call_user_id.id or None,
            lead_creation=pbx.lead_creation or "never",
            lead_sources=tuple(
                hotline_source(
                    line.hotline,
                    line.source_id.id,
                    line.team_id.id,
                    line.team_id.user_id.id,
                    pbx.company_id.country_id.code or DEFAULT_REGION,
                )
                for line in pbx.lead_source_ids
            ),
        )

    def _vpbx_route_settings(self):
        self.ensure_one()
        return self._vpbx_route_settings_cached(self.id)

    @api.model
    @tools.ormcache("pbx_id")
    def _vpbx_route_settings_cached(self, pbx_id):
        """This account's RouteSettings, cached per worker (read on every routing request)."""
        pbx = self.sudo().browse(pbx_id)
        return RouteSettings(
            pbx_id=pbx.id,
            company_id=pbx.company_id.id,
            region=pbx.company_id.country_id.code or DEFAULT_REGION,
            enabled=pbx.route_enabled,
            api_key=pbx.route_api_key or "",
            team_members=pbx.route_team_members,
        )

    @api.model
    def _vpbx_from_webhook_token(self, token):
        """The active account whose webhook token equals `token`, compared in constant time."""
        if not token or len(token) > 256:
            return self.browse()
        found = self.browse()
        for pbx_id, stored in self._vpbx_webhook_tokens():
            # compare against every account so timing does not reveal which prefix matched
            if secrets.compare_digest(stored.encode(), token.encode()):
                found = self.browse(pbx_id)
        return found

    @api.model
    @tools.ormcache()
    def _vpbx_webhook_tokens(self):
        """((account id, token), ...) of the active accounts: read on every delivery, so cached
        per worker; create, write and unlink empty the cache of every worker."""
        self.flush_model(["webhook_token", "active"])
        self.env.cr.execute(
            "SELECT id, webhook_token FROM vpbx_pbx WHERE webhook_token IS NOT NULL AND active"
        )
        return tuple(self.env.cr.fetchall())

    # ---------------------------------------------------------------- helpers

    def _vpbx_webhook_url(self, create=True):
        self.ensure_one()
        pbx = self.sudo()
        if create and not pbx.webhook_token:
            pbx.webhook_token = secrets.token_urlsafe(32)
        if not pbx.webhook_token:  # neutralized: no URL until one is needed
            return False
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        return f"{base.rstrip('/')}/vpbx/webhook/{pbx.webhook_token}"

    def _vpbx_check_manager(self):
        """The buttons acting on the PBX or on its secrets (public methods: RPC can call them
        for any id): VPBX managers only, on accounts of companies they may access."""
        if self.env.su:
            return
        if not self.env.user.has_group(GROUP_MANAGER):
            raise AccessError(
                self.env._("Only VPBX managers can act on the VPBX connection of a company.")
            )
        self.check_access("read")

    def _vpbx_client(self):
        """A VpbxClient configured from this account."""
        self.ensure_one()
        pbx = self.sudo()
        if not pbx.api_url:
            raise UserError(
                self.env._(
                    "The PBX account %(pbx)s has no API URL: set it in VPBX > Configuration >"
                    " PBX accounts.",
                    pbx=pbx.name,
                )
            )
        if not pbx.api_key:
            raise UserError(
                self.env._(
                    "The PBX account %(pbx)s has no API key: set it in VPBX > Configuration >"
                    " PBX accounts.",
                    pbx=pbx.name,
                )
            )
        return VpbxClient(
            pbx.api_url,
            pbx.api_key,
            auth_mode=pbx.auth_mode or "bearer",
            timeout=pbx.timeout or 10.0,
            paths={key: pbx[fname] for fname, key in PATH_FIELDS.items() if pbx[fname]},
            token_store=PbxTokenStore(pbx),
            token_lifetime=int((pbx.token_lifetime or 23.0) * 3600),
            logger=_logger,
        )

    def _vpbx_error_message(self, error):
        """The translated text of a VpbxError (it also shows the raw PBX code)."""
        return error.render(self.env._)

    def _vpbx_user_error(self, error):
        return UserError(self._vpbx_error_message(error))

    @api.model
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

    def _vpbx_click2call_number(self, number, region):
        """`number` written as this account's PBX expects it, or None if it is no number."""
        self.ensure_one()
        if self.click2call_number_format == "e164":
            return normalize(number, region)
        if self.click2call_number_format == "e164_no_plus":
            key = normalize(number, region)
            return key and key.lstrip("+")
        return national_number(number, region)

    def _vpbx_invite_fields(self):
        """Logical invite field -> request field name (empty: not sent)."""
        self.ensure_one()
        return {logical: self[fname] or "" for logical, fname in INVITE_FIELDS.items()}

    def _vpbx_reply_paths(self):
        """Credential -> dotted paths; an emptied setting falls back to the default."""
        self.ensure_one()
        return {
            credential: self[fname] or provisioning.DEFAULT_PATHS[credential]
            for credential, fname in REPLY_PATH_FIELDS.items()
        }

    # ---------------------------------------------------------------- buttons

    def action_test_connection(self):
        self.ensure_one()
        self._vpbx_check_manager()
        client = self._vpbx_client()
        try:
            summary = client.test_connection()
        except VpbxError as error:
            _logger.info("VPBX test connection failed for account %s: %s", self.id, error.code)
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

    def action_regenerate_webhook_token(self):
        self.ensure_one()
        self._vpbx_check_manager()
        self.sudo().webhook_token = secrets.token_urlsafe(32)
        return self._vpbx_notify(
            self.env._(
                "A new webhook URL was generated. Register it on the PBX again:"
                " deliveries to the old URL are now refused."
            ),
            "warning",
        )

    def action_sync_now(self):
        """Sync the history now (the scheduled action does it every few minutes)."""
        self.ensure_one()
        self._vpbx_check_manager()
        self._vpbx_client()  # a clear error when the PBX is not configured
        result = self.env["vpbx.sync.state"]._vpbx_sync(self)[self.id]
        if result.get("error"):
            return self._vpbx_notify(
                self.env._("The history sync failed: %(error)s", error=result["error"]),
                "danger",
                sticky=True,
            )
        if result.get("busy"):
            return self._vpbx_notify(
                self.env._("A history sync of this PBX account is already running."), "warning"
            )
        return self._vpbx_notify(
            self.env._(
                "History synced: %(count)s records read, %(new)s new calls.",
                count=result["count"],
                new=result["new"],
            )
        )

    def action_purge_now(self):
        """Run the daily purge in a moment, in the background (it commits batch by batch)."""
        self._vpbx_check_manager()
        cron = self.env.ref(CRON_PURGE, raise_if_not_found=False)
        if not cron or not cron.sudo().active:
            raise UserError(
                self.env._(
                    "The scheduled action that purges old webhook events and calls is missing"
                    " or archived: ask an administrator to restore it."
                )
            )
        cron.sudo()._trigger()
        return self._vpbx_notify(
            self.env._("The purge starts in a moment; its result shows under Retention."),
            "info",
        )

    def action_open_waiting_events(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(ACTION_WEBHOOK_EVENTS)
        action["domain"] = [("pbx_id", "=", self.id), ("state", "=", "new")]
        action["context"] = {"default_pbx_id": self.id}
        return action

    def action_open_failed_events(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(ACTION_WEBHOOK_EVENTS)
        action["domain"] = [("pbx_id", "=", self.id)]
        action["context"] = {"search_default_failed": 1, "default_pbx_id": self.id}
        return action

    def action_open_calls(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(ACTION_CALLS)
        action["domain"] = [("pbx_id", "=", self.id)]
        action["context"] = {}
        return action

    def action_open_history_import(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(ACTION_NEW_HISTORY_IMPORT)
        action["context"] = {"default_pbx_id": self.id}
        return action

    # ---------------------------------------------------------------- history pages

    def _vpbx_history_fetcher(self, date_from, date_to):
        """``fetch(client, page)``: one page of the PBX call history of [date_from, date_to]
        (naive UTC datetimes). The account's settings are read here, once: ``fetch`` reads
        nothing through the ORM, so it may run in another thread."""
        self.ensure_one()
        unit = self.history_time_unit or "ms"
        start, end = history_sync.to_epoch(date_from, unit), history_sync.to_epoch(date_to, unit)
        version = self.history_version or "v2"

        def fetch(client, page):
            return client.search_history(
                start, end, page=page, size=history_sync.PAGE_SIZE, version=version
            )

        return fetch

    def _vpbx_history_page(self, client, date_from, date_to, page):
        """One page of the PBX call history of [date_from, date_to] (naive UTC datetimes)."""
        return self._vpbx_history_fetcher(date_from, date_to)(client, page)

    def _vpbx_page_history(self, client, date_from, date_to, first_page, store_page, max_pages):
        """THE pager of the sync and the import: fetch the pages of [date_from, date_to] from
        `first_page` on and hand each to ``store_page(items, page, total, more)``, which runs
        and commits in a transaction of its own (``services.transaction.in_new_transaction``).
        ``store_page`` returns False to stop early (an import paused meanwhile).

        While a page is stored the next one is fetched in a thread, with a client lent the
        current token (``VpbxClient.lent``): an import takes about the longer of fetching and
        storing instead of both. The pages are asked and stored in the same order as one by
        one; a failed fetch of the next page fails the run as if asked after the store, and a
        token that needs renewing there is renewed here (the next page is asked again).

        Returns ``(pages stored, whether pages are left)``.
        """
        self.ensure_one()
        fetch = self._vpbx_history_fetcher(date_from, date_to)
        page, done = first_page, 0
        lent = ahead = None
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vpbx-history")
        try:
            while done < max_pages:
                payload = _NOT_FETCHED
                if ahead is not None:
                    try:
                        payload = ahead.result()
                    except TokenNeeded as needed:
                        # renewed here, in the account's store; the page is asked again
                        lent.close()
                        lent = None
                        client.renew_token(needed.token)
                    ahead = None
                if payload is _NOT_FETCHED:
                    payload = fetch(client, page)
                items = history_sync.page_items(payload)
                total = history_sync.total_pages(payload) or 0
                more = (
                    bool(items)
                    and history_sync.has_next(payload, page)
                    and page < history_sync.MAX_PAGES
                )
                if more and done + 1 < max_pages:
                    try:
                        lent = lent or client.lent()
                        ahead = pool.submit(fetch, lent, page + 1)
                    except VpbxError:  # no token now: asked again, and reported, after the store
                        pass

                def store(items=items, page=page, total=total, more=more):
                    return store_page(items, page, total, more)

                if in_new_transaction(self.env, store) is False:
                    return done, True
                done += 1
                if not more:
                    return done, False
                page += 1
            return done, True
        finally:
            # a page still being fetched is waited for (the client's time-out at most), unused
            pool.shutdown(wait=True, cancel_futures=True)
            if lent is not None:
                lent.close()

    def _vpbx_history_store(self, items, settings=None):
        """Map and upsert the records of a history page, exactly as webhook records are.

        A record that cannot be read is skipped (and logged): it must not block the sync.
        Returns ``{'count', 'new', 'skipped'}``.
        """
        self.ensure_one()
        settings = settings or self._vpbx_call_settings()
        records, skipped = [], 0
        for item in items:
            try:
                records.append(parse_record(item, settings.mapping))
            except PayloadError as error:
                skipped += 1
                _logger.warning(
                    "VPBX history of account %s: a record was skipped: %s", self.id, error
                )
        results = []
        self.env["vpbx.call"].sudo()._vpbx_upsert_records(settings, records, results=results)
        new = sum(1 for _call_id, _applied, created in results if created)
        return {"count": len(records), "new": new, "skipped": skipped}

    @api.model
    def _vpbx_error_text(self, error):
        """A readable text of what stopped a sync or an import."""
        if isinstance(error, VpbxError):
            return self._vpbx_error_message(error)
        if isinstance(error, UserError):
            return error.args[0] if error.args else str(error)
        return f"{type(error).__name__}: {error}"

    # ---------------------------------------------------------------- webhook registration

    def _vpbx_webhook_hooks(self):
        """``[(type, events)]`` to register: the call webhook, and the live events if set."""
        self.ensure_one()
        hook_type = (self.webhook_register_type or "call").strip()
        events = _split(self.webhook_register_events)
        if hook_type == CALL_EVENT_TYPE:
            return [(hook_type, events or None)]
        hooks = [(hook_type, None)]
        if events:
            hooks.append((CALL_EVENT_TYPE, events))
        return hooks

    def action_register_webhook(self):
        """Register this account's webhook URL on the PBX."""
        self.ensure_one()
        self._vpbx_check_manager()
        client = self._vpbx_client()
        url = self._vpbx_webhook_url()
        hooks = self._vpbx_webhook_hooks()
        for kind, kind_events in hooks:
            try:
                client.register_webhook(
                    url, hook_type=kind, events=kind_events, wrapped=self.webhook_register_wrapped
                )
            except VpbxError as error:
                _logger.info("VPBX webhook %s of account %s: %s", kind, self.id, error.code)
                raise self._vpbx_user_error(error) from None
        return self._vpbx_notify(
            self.env._(
                "The webhook is registered on the PBX (%(types)s): calls will be sent to Odoo"
                " when they end.",
                types=", ".join(kind for kind, _events in hooks),
            )
        )

    def action_list_webhooks(self):
        """Show the webhooks the PBX has, marking those that point to this account."""
        self.ensure_one()
        self._vpbx_check_manager()
        client = self._vpbx_client()
        try:
            hooks = client.list_webhooks()
        except VpbxError as error:
            raise self._vpbx_user_error(error) from None
        if not hooks:
            return self._vpbx_notify(self.env._("No webhook is registered on the PBX."), "warning")
        own_url = self.sudo().webhook_token and self._vpbx_webhook_url(create=False)
        lines = []
        for hook in hooks:
            if not isinstance(hook, dict):
                lines.append(str(hook))
                continue
            events = hook.get("events")
            line = self.env._(
                "%(type)s: %(url)s", type=hook.get("type") or "?", url=hook.get("url") or "?"
            )
            if events:
                line = self.env._(
                    "%(hook)s (events: %(events)s)",
                    hook=line,
                    events=", ".join(map(str, events)) if isinstance(events, list) else events,
                )
            if own_url and hook.get("url") == own_url:
                line = self.env._("%(hook)s [this account]", hook=line)
            lines.append(line)
        return self._vpbx_notify(
            self.env._("Webhooks on the PBX: %(hooks)s", hooks="; ".join(lines)),
            "info",
            sticky=True,
        )

    def action_remove_webhook(self):
        """Remove the webhook(s) of the configured types from the PBX."""
        self.ensure_one()
        self._vpbx_check_manager()
        client = self._vpbx_client()
        removed, missing = [], []
        for kind, _events in self._vpbx_webhook_hooks():
            try:
                client.destroy_webhook(kind)
            except VpbxError as error:
                if error.code != "resource_not_found":
                    raise self._vpbx_user_error(error) from None
                missing.append(kind)
            else:
                removed.append(kind)
        if not removed:
            return self._vpbx_notify(
                self.env._("The PBX has no webhook of type %(types)s.", types=", ".join(missing)),
                "warning",
            )
        return self._vpbx_notify(
            self.env._(
                "Webhook removed from the PBX (%(types)s): calls now arrive only through the"
                " history sync.",
                types=", ".join(removed),
            )
        )
