"""The call log: one record per PBX call, whatever path its data came from.

Entry point for every source of call data (webhook events, the history sync and import):
``vpbx.call._vpbx_upsert_records(settings, records)`` with the account's ``CallSettings``
(``vpbx.pbx._vpbx_call_settings``, read once per delivery or page) and ``CallRecord`` objects
from ``services.call_mapping.parse_record``. It works in the caller's transaction; a caller that
owns its transaction (a webhook delivery, a cron, a sync page) wraps it in
``services.transaction.in_new_transaction``, which commits and, on a concurrency error (the same
call inserted by another worker), runs it again in a new transaction.

Click-to-call: the call is created in the ``calling`` state when the user clicks
(``vpbx.click2call``); the PBX's record then *claims* it (``_vpbx_claim_click2call``): the
pending call with the same call_uuid, else the one of the same extension and number started
within the account's match window, is given the record's call id and completed by the upsert.
"""

import logging
from datetime import timedelta

import pytz
from markupsafe import Markup, escape

from odoo import SUPERUSER_ID, Command, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL
from odoo.tools.sql import create_index

from ..const import (
    CALLBACK_ACTIVITY,
    CALLBACK_STATUSES,
    GROUP_MANAGER,
    GROUP_SALESMAN,
    GROUP_USER,
)
from ..services.phone import format_display, phone_keys
from ..services.recording_url import playable_url, recording_route
from . import call_notes
from .phone_blacklist import BLOCKED_KEYS_SQL

_logger = logging.getLogger(__name__)

#: CallRecord attribute -> vpbx.call field, copied when the record carries a value.
RECORD_FIELDS = {
    "call_uuid": "call_uuid",
    "direction": "direction",
    "customer_number": "customer_number",
    "extension": "extension",
    "hotline": "hotline",
    "start_time": "start_time",
    "answer_time": "answer_time",
    "end_time": "end_time",
    "duration": "duration",
    "talk_duration": "talk_duration",
    "recording_url": "recording_url",
    "disposition": "disposition",
    "agent_name": "agent_name",
    "customer_name": "customer_name",
    "note": "pbx_note",
    "tag": "pbx_tag",
}
#: vpbx.call fields of a call's number keys (today's reading, an older one)
KEY_FIELDS = ("customer_number_normalized", "customer_number_alt_key")
#: cr.precommit.data key of the chatter notes a queue batch creates at once
NOTES_KEY = "sentech_vpbx.call_notes"
#: cr.precommit.data key of the missed-call activities an upsert creates at once, at its end
CALLBACKS_KEY = "sentech_vpbx.call_callbacks"
#: cr.precommit.data key of the chatter notes an upsert creates at once, at its end
UPSERT_NOTES_KEY = "sentech_vpbx.upsert_notes"
#: What the time to call back of a call, and of the missed calls it answers, depends on
CALLBACK_FIELDS = frozenset(
    ("customer_number_normalized", "start_time", "direction", "status", "is_final")
)


def _answered_percent(status):
    return 100 if status == "answered" else 0


def _ring_seconds(status, start, answer, end):
    """From the first ring to the answer, or to the end of a call nobody answered."""
    stop = answer if status == "answered" else end
    stop = stop or end
    return max(0, int((stop - start).total_seconds())) if stop and start else 0


def _format_seconds(seconds):
    seconds = int(seconds or 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class _StoredLinks:
    """What the records of a batch's stored calls would each look up to link their call,
    looked up once for all of them (``vpbx.call._vpbx_prefetch_links``): the contacts of a
    number, by (company, number keys); the employee of an extension, by (account, extension);
    the open leads of a caller, by (company, number keys, contact ids). A miss is looked up
    as one at a time would.
    """

    __slots__ = ("employees", "leads", "partners", "prefetch_ids")

    def __init__(self, prefetch_ids):
        self.prefetch_ids = tuple(prefetch_ids)  # the stored calls, read together
        self.partners = {}
        self.employees = {}
        self.leads = {}

    @staticmethod
    def lead_key(company_id, keys, partner_ids):
        return company_id, tuple(keys), tuple(sorted(partner_ids))


class VpbxCall(models.Model):
    _name = "vpbx.call"
    _description = "VPBX Call"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "start_time desc, id desc"
    # users read their calls only (the log is the PBX's): notes and activities need no more
    _mail_post_access = "read"

    _sql_constraints = [
        (
            "vpbx_call_id_pbx_uniq",
            "unique(pbx_id, vpbx_call_id)",
            "A PBX call can be logged only once per PBX account.",
        ),
    ]

    vpbx_call_id = fields.Char(
        string="PBX Call ID",
        required=True,
        readonly=True,
        copy=False,
        help="The call's stable id on the PBX (transaction_id, else call_uuid).",
    )
    call_uuid = fields.Char(string="Call UUID", readonly=True, copy=False, index="btree_not_null")
    pbx_id = fields.Many2one(
        "vpbx.pbx",
        string="PBX Account",
        required=True,
        readonly=True,
        index=True,
        ondelete="cascade",
        default=lambda self: self.env["vpbx.pbx"].search(
            [("company_id", "=", self.env.company.id)], limit=1
        ),
    )
    company_id = fields.Many2one(
        "res.company",
        string="Company",
        related="pbx_id.company_id",
        store=True,
        index=True,
        precompute=True,
    )
    direction = fields.Selection(
        [("inbound", "Inbound"), ("outbound", "Outbound"), ("internal", "Internal")],
        string="Direction",
        required=True,
        default="inbound",
    )
    status = fields.Selection(
        [
            ("calling", "Calling"),
            ("ringing", "Ringing"),
            ("in_progress", "In Progress"),
            ("answered", "Answered"),
            ("missed", "Missed"),
            ("busy", "Busy"),
            ("failed", "Failed"),
        ],
        string="Status",
        required=True,
        default="ringing",
        index=True,
    )
    is_final = fields.Boolean(
        string="Ended", readonly=True, help="The PBX sent the final record of this call."
    )
    disposition = fields.Char(string="PBX Disposition", readonly=True)
    customer_number = fields.Char(string="Customer Number", help="As sent by the PBX.")
    # indexed with the start time (init): lookups by number, and the first call after a moment
    customer_number_normalized = fields.Char(
        string="Normalized Number", readonly=True, help="E.164 form of the number."
    )
    customer_number_alt_key = fields.Char(
        string="Other Reading of the Number",
        readonly=True,
        index="btree_not_null",
        help="The number read in an older numbering plan, when it has one (e.g. 08 3823 4567:"
        " a mobile today, an old Ho Chi Minh City landline before 2017).",
    )
    customer_name = fields.Char(string="Customer Name (PBX)", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Contact", index=True, ondelete="set null")
    is_ambiguous = fields.Boolean(
        string="Ambiguous Contact",
        readonly=True,
        help="Several contacts have this number; see Candidates. The contact was chosen by the"
        " rule: today's reading of the number first, then the contact of this number's latest"
        " call, then a company rather than one of its people, then the oldest contact.",
    )
    candidate_partner_ids = fields.Many2many(
        "res.partner",
        "vpbx_call_candidate_partner_rel",
        "call_id",
        "partner_id",
        string="Candidates",
        readonly=True,
    )
    lead_id = fields.Many2one(
        "crm.lead",
        string="Lead/Opportunity",
        index="btree_not_null",
        ondelete="set null",
        # VPBX users without the pipeline's rights (HR officers) read calls too
        groups=GROUP_SALESMAN,
        help="The open lead or opportunity of the caller, by the rule: the contact's open"
        " opportunities, else the open leads carrying the number; among several, the one"
        " assigned to the call's agent, then an opportunity rather than a lead, then the most"
        " recently updated. The others are listed under Other leads.",
    )
    candidate_lead_ids = fields.Many2many(
        "crm.lead",
        "vpbx_call_candidate_lead_rel",
        "call_id",
        "lead_id",
        string="Other Leads",
        readonly=True,
        groups=GROUP_SALESMAN,
        help="Every open lead or opportunity of the caller, when there are several.",
    )
    employee_id = fields.Many2one(
        "hr.employee", string="Agent", index="btree_not_null", ondelete="set null"
    )
    user_id = fields.Many2one("res.users", string="User", index=True, ondelete="set null")
    agent_name = fields.Char(string="Agent Name (PBX)", readonly=True)
    extension = fields.Char(string="Extension")
    hotline = fields.Char(string="Hotline")
    start_time = fields.Datetime(string="Start", index=True)
    answer_time = fields.Datetime(string="Answered At")
    end_time = fields.Datetime(string="End")
    duration = fields.Integer(string="Duration (s)", aggregator="sum")
    talk_duration = fields.Integer(string="Talk Time (s)", aggregator="sum")
    duration_display = fields.Char(string="Duration", compute="_compute_duration_display")
    recording_url = fields.Char(string="Recording")
    callback_activity_id = fields.Many2one(
        "mail.activity", string="Call Back Activity", readonly=True, ondelete="set null"
    )
    webhook_event_ids = fields.Many2many(
        "vpbx.webhook.event",
        "vpbx_webhook_event_call_rel",
        "call_id",
        "event_id",
        string="Webhook Events",
        readonly=True,
        groups=GROUP_MANAGER,
    )
    # live events: what the ringing phones' users were told (vpbx.live.call)
    vpbx_live_stage = fields.Selection(
        [("ringing", "Ringing"), ("answered", "Answered"), ("closed", "Closed")],
        string="Live Notification",
        readonly=True,
        copy=False,
        help="The last stage of this call the ringing phones' users were told of.",
    )
    vpbx_live_extensions = fields.Char(
        string="Rung Extensions",
        readonly=True,
        copy=False,
        help="The extensions that rang for this call (live events), comma-separated.",
    )

    vpbx_click2call = fields.Boolean(
        string="Click-to-Call",
        readonly=True,
        copy=False,
        help="Started from Odoo with a Call button.",
    )

    # after the call (issue #17): the recording's player, the do-not-call flag
    # the recording archived in Odoo (models/vpbx_recording.py): rows go with the call
    vpbx_recording_ids = fields.One2many(
        "vpbx.recording", "call_id", string="Archived Recording", groups=GROUP_MANAGER
    )
    vpbx_recording_src = fields.Char(
        string="Recording Player",
        compute="_compute_vpbx_recording_src",
        help="The Odoo route that plays the recording (it checks the user may read the call);"
        " empty when the PBX's link is not an http(s) URL: it is then shown as text.",
    )
    # do-not-call (phone.blacklist): read at display time, nothing stored per call
    vpbx_do_not_call = fields.Boolean(
        string="Do Not Call",
        compute="_compute_vpbx_do_not_call",
        search="_search_vpbx_do_not_call",
        help="The customer's number is on the do-not-call list (Odoo's phone blacklist, old and"
        " new Vietnamese numbers alike): it cannot be called from Odoo.",
    )

    # the outcome (issue #17): recorded by the agent who took the call, or named by the PBX's tag
    outcome_id = fields.Many2one(
        "vpbx.call.outcome",
        string="Outcome",
        readonly=True,
        index="btree_not_null",
        tracking=True,
        ondelete="restrict",
    )
    outcome_note = fields.Text(string="Outcome Note", readonly=True)
    outcome_user_id = fields.Many2one("res.users", string="Outcome By", readonly=True)
    outcome_date = fields.Datetime(string="Outcome Recorded", readonly=True)
    pbx_note = fields.Text(string="PBX Note", readonly=True, help="What the agent typed there.")
    pbx_tag = fields.Char(string="PBX Tags", readonly=True, help="The tags set on the PBX.")
    # the manager's view: stored measures for the pivot and graph views and the dashboard
    answered_percent = fields.Integer(
        string="Answer Rate (%)",
        compute="_compute_answered_percent",
        store=True,
        precompute=True,  # in the call's INSERT: no UPDATE after it
        aggregator="avg",
        help="100 for an answered call, 0 otherwise: its average is the answer rate.",
    )
    ring_duration = fields.Integer(
        string="Ring Time (s)",
        compute="_compute_ring_duration",
        store=True,
        precompute=True,  # in the call's INSERT: no UPDATE after it
        aggregator="avg",
        help="From the first ring to the answer, or to the end of a call nobody answered.",
    )
    callback_state = fields.Selection(
        [("pending", "Not Called Back"), ("done", "Called Back")],
        string="Call Back",
        readonly=True,
        copy=False,
        help="For a missed inbound call: whether anyone called the number back since (an"
        " outbound call to it, answered or not).",
    )
    callback_call_id = fields.Many2one(
        "vpbx.call", string="Called Back With", readonly=True, copy=False, ondelete="set null"
    )
    callback_minutes = fields.Float(
        string="Time to Call Back (min)",
        readonly=True,
        copy=False,
        digits=(16, 1),
        aggregator="avg",
        help="Minutes from the missed call to the first outbound call to the number.",
    )

    def init(self):
        super().init()
        # a number's calls in time order: linking by number, time to call back (the first
        # outbound call after a missed one) without a sort, whatever the planner's statistics
        cr, table = self.env.cr, self._table
        create_index(
            cr,
            "vpbx_call_number_start_index",
            table,
            ["customer_number_normalized", "start_time"],
        )
        # the missed calls still waiting for a call back, per number (every outbound call asks)
        create_index(
            cr,
            "vpbx_call_callback_pending_index",
            table,
            ["customer_number_normalized"],
            where="callback_state = 'pending'",
        )
        # every delivery asks whether its account has a pending click-to-call
        create_index(
            cr,
            "vpbx_call_pending_click2call_index",
            table,
            ["pbx_id"],
            where="vpbx_click2call AND is_final IS NOT TRUE",
        )

    @api.depends("customer_number", "extension", "vpbx_call_id")
    def _compute_display_name(self):
        for call in self:
            number = call.customer_number and format_display(
                call.customer_number, call._vpbx_region()
            )
            call.display_name = number or call.extension or call.vpbx_call_id or ""

    @api.depends("status")
    def _compute_answered_percent(self):
        for call in self:
            call.answered_percent = _answered_percent(call.status)

    @api.depends("start_time", "answer_time", "end_time", "status")
    def _compute_ring_duration(self):
        for call in self:
            call.ring_duration = _ring_seconds(
                call.status, call.start_time, call.answer_time, call.end_time
            )

    @api.depends("duration")
    def _compute_duration_display(self):
        for call in self:
            call.duration_display = _format_seconds(call.duration)

    def _vpbx_region(self):
        """Region of the call's numbers written without an international prefix."""
        self.ensure_one()
        return self.sudo().pbx_id._vpbx_call_settings().region if self.pbx_id else "VN"

    # ------------------------------------------------------------------ upsert

    @api.model
    def _vpbx_upsert_records(self, settings, records, stale=None, results=None):
        """Create or update the calls of `records` (CallRecord) of the account of `settings`
        (CallSettings): THE shared entry, for one webhook delivery as for a queue batch or a
        history page.

        Set-based where it can be: the calls the batch creates (the first record of each call
        not stored yet) are linked with one lookup of all their numbers, one of their
        extensions and one of their leads, and written by one INSERT (``_vpbx_insert_calls``).
        The other records (a call already stored, a later record of a call of the batch, an
        account with a click-to-call pending) go one by one (``_vpbx_upsert_record``): the
        call's row is locked, a pending click-to-call claimed, a live record updates a live
        call, the final record completes it, a live record arriving after the final one only
        fills empty fields; what changes nothing is not written. The stored calls are read
        together, and the lookups that link them again are made once for all of them
        (``_vpbx_prefetch_links``). Then, in the records' order, on the transition to final and only
        then, the chatter note and the missed-call activity are made, the batch's notes written
        by one INSERT and its activities by one create at the end: the same calls, links,
        notes and activities as one record at a time.

        A concurrent insert of the same call (another worker) fails on the unique index: the
        caller retries in a new transaction, where it updates. Runs as superuser in the
        caller's transaction.

        :param stale: optional list receiving the call ids of records that changed nothing
            because their call had already ended.
        :param results: optional list receiving ``(call id, applied, created)`` per record, in
            order (created: the record made its call).
        :return: the vpbx.call records, in the order of `records` (without duplicates).
        """
        Call = (
            self.sudo()
            .with_company(settings.company_id)
            .with_context(mail_create_nolog=True, mail_create_nosubscribe=True, mail_notrack=True)
        )
        # the account's company is known: computing a new call's company_id (related, so
        # always computed) then reads no row of the account
        pbx = self.env["vpbx.pbx"].sudo().browse(settings.pbx_id)
        self.env.cache.update(pbx, pbx._fields["company_id"], [settings.company_id])
        firsts, stored = Call._vpbx_new_calls(settings, records)
        inserted = Call._vpbx_insert_calls(settings, [records[i] for i in firsts])
        created = dict(zip(firsts, inserted, strict=True))
        # the missed-call activities and the chatter notes of the batch (a history page), each
        # created together once every record is in
        data = self.env.cr.precommit.data
        outer = {key: data.pop(key, None) for key in (CALLBACKS_KEY, UPSERT_NOTES_KEY)}
        data[CALLBACKS_KEY] = callbacks = {}
        data[UPSERT_NOTES_KEY] = notes = []
        try:
            calls, finals = Call._vpbx_apply_records(
                settings, records, created, stored, stale, results
            )
            Call._vpbx_create_callbacks(callbacks)
            call_notes.insert_notes(self.env, notes)
        finally:
            for key, value in outer.items():
                data.pop(key, None)
                if value is not None:
                    data[key] = value
        finals._vpbx_link_callbacks()
        return calls.with_env(self.env)

    @api.model
    def _vpbx_apply_records(self, settings, records, created, stored, stale, results):
        """The follow-ups of the calls `created` and the upsert of the other records, in the
        records' order; returns ``(calls, final calls to link again)``: the new ones and those
        whose number, time, direction or status the batch changed. A call read again that
        changed none of these (a history sync's overlap, a re-delivery) changes no time to
        call back: its own and its number's are left as they are."""
        Call = self
        calls = finals = Call.browse()
        relink = set()  # ids of stored calls whose CALLBACK_FIELDS the batch wrote
        links = Call._vpbx_prefetch_links(settings, stored.values()) if stored else None
        for index, record in enumerate(records):
            if index in created:
                # a lead made for an unknown caller meanwhile links the batch's calls of its
                # number as it links any stored call (crm.lead's create hook): as one at a time
                call, change = created[index]
                Call._vpbx_after_insert(settings, call, change, links)
                applied = new = True
            else:
                call, applied, new = Call._vpbx_upsert_record(
                    settings, record, stored.get(record.call_id), links, relink
                )
            if not applied and stale is not None:
                stale.append(record.call_id)
            if results is not None:
                results.append((call.id, applied, new))
            if applied and call.is_final and (new or call.id in relink):
                finals |= call
            calls |= call
        return calls, finals

    @api.model
    def _vpbx_new_calls(self, settings, records):
        """``(firsts, stored)``: the indexes of the records that create a call in bulk (the
        first record of each call of the account not stored yet), and the batch's calls already
        stored, ``{call id: row id}``, their rows locked (``_vpbx_lock_calls``), so that their
        records need no lock query of their own. Nothing when the account has a click-to-call
        pending: a record may complete it, which is claimed one record at a time."""
        call_ids = list(dict.fromkeys(record.call_id for record in records))
        if not call_ids:
            return [], {}
        locked, pending = self._vpbx_lock_calls(settings.pbx_id, call_ids)
        if pending:
            return [], {}
        stored = {call_id: row_id for call_id, (row_id, _click2call) in locked.items()}
        seen = set(stored)
        firsts = []
        for index, record in enumerate(records):
            if record.call_id not in seen:
                seen.add(record.call_id)
                firsts.append(index)
        return firsts, stored

    @api.model
    def _vpbx_insert_calls(self, settings, records):
        """Create one call per record (each the first record of a call not stored yet), linked
        before the INSERT: one query for the contacts of all their numbers, one for the
        employees of their extensions, one for their leads; then one INSERT for all.

        :return: ``[(call, live change or None)]`` in the order of `records`; the caller runs
            ``_vpbx_after_insert`` on each, in its order.
        """
        if not records:
            return []
        vals_list = []
        for record in records:
            vals = self._vpbx_values(settings, record)
            vals.update(
                pbx_id=settings.pbx_id,
                vpbx_call_id=record.call_id,
                status=record.status,
                is_final=record.is_final,
            )
            vals_list.append(vals)
        self._vpbx_link_new(settings, vals_list)
        live = self.env["vpbx.live.call"]
        changes = [None] * len(records)
        if not self.env.context.get("vpbx_no_followup"):
            for index, (vals, record) in enumerate(zip(vals_list, records, strict=True)):
                # a live event's stage goes into the INSERT: no UPDATE after it
                changes[index] = live._vpbx_live_change(vals, settings, record)
                if changes[index] is not None:
                    vals.update(live._vpbx_live_values(changes[index]))
        self._vpbx_complete_values(settings, vals_list)
        # one INSERT: a concurrent insert of one of these calls fails here on the unique index.
        # Rows in call id order: two batches inserting some same calls wait for each other in
        # the same order (then one fails and is retried) instead of deadlocking.
        order = sorted(range(len(vals_list)), key=lambda index: vals_list[index]["vpbx_call_id"])
        # tracking_disable: the call's chatter gets no creation message, no follower and no
        # tracking anyway (the upsert's context); this also skips mail's per-record auto-subscribe
        created = (
            self.with_context(tracking_disable=True, vpbx_values_complete=True)
            .create([vals_list[index] for index in order])
            .with_env(self.env)
        )
        calls = [None] * len(order)
        for call, index in zip(created, order, strict=True):
            calls[index] = call
        return list(zip(calls, changes, strict=True))

    @api.model
    def _vpbx_complete_values(self, settings, vals_list):
        """Give the new calls' values the defaults, read once for the batch: ``default_get``
        then has nothing left to add for each record (see also ``_add_precomputed_values``)."""
        missing = [name for name in self._fields if any(name not in v for v in vals_list)]
        defaults = self.default_get(missing) if missing else {}
        for vals in vals_list:
            for name, value in defaults.items():
                vals.setdefault(name, value)

    @api.model
    def default_get(self, fields_list):
        # a batch insert gave every default already (_vpbx_complete_values)
        if self.env.context.get("vpbx_values_complete"):
            return {}
        return super().default_get(fields_list)

    def _add_precomputed_values(self, vals_list):
        """A batch insert's precomputed fields, from the values themselves: the ORM would build
        a new record per call to compute these plain values (a third of a call's create)."""
        if self.env.context.get("vpbx_values_complete"):
            fields_ = [self._fields[n] for n in ("company_id", "answered_percent", "ring_duration")]
            Pbx = self.env["vpbx.pbx"]
            for vals in vals_list:
                status = vals.get("status")
                vals.update(
                    company_id=Pbx.browse(vals["pbx_id"]).company_id.id,
                    answered_percent=_answered_percent(status),
                    ring_duration=_ring_seconds(
                        status,
                        vals.get("start_time"),
                        vals.get("answer_time"),
                        vals.get("end_time"),
                    ),
                )
                vals.setdefault("__precomputed__", set()).update(fields_)
        # any other precomputed field, the ORM's way
        return super()._add_precomputed_values(vals_list)

    @api.model
    def _vpbx_after_insert(self, settings, call, change, links=None):
        if call.is_final:
            call._vpbx_on_final(settings, links)
        if change is not None:
            self.env["vpbx.live.call"]._vpbx_send(call, settings, change)

    @api.model
    def _vpbx_link_new(self, settings, vals_list):
        """Add the contact, employee and lead links to the values of new calls, each lookup in
        one query for all of them."""
        company_id = settings.company_id
        keys_list = [[vals[fname] for fname in KEY_FIELDS if vals.get(fname)] for vals in vals_list]
        found = (
            self.env["vpbx.partner.phone"].sudo()._vpbx_find_partners_many(company_id, keys_list)
        )
        extensions = {vals["extension"] for vals in vals_list if vals.get("extension")}
        employees = self._vpbx_employees_of(settings.pbx_id, extensions)
        for vals, keys, candidates in zip(vals_list, keys_list, found, strict=True):
            if candidates:
                vals.update(self._vpbx_partner_values(company_id, keys, candidates=candidates))
            if vals.get("extension") in employees:
                employee_id, user_id = employees[vals["extension"]]
                vals.update(employee_id=employee_id, user_id=user_id or False)
        wanted = [
            (index, keys, vals.get("partner_id"))
            for index, (vals, keys) in enumerate(zip(vals_list, keys_list, strict=True))
            if keys or vals.get("partner_id")
        ]
        if not wanted:
            return
        partners = (
            self.env["res.partner"]
            .sudo()
            .with_context(prefetch_fields=False)  # cached by the lookup, else only this column
            .browse({partner_id for _i, _k, partner_id in wanted if partner_id})
        )
        commercial = {partner.id: partner.commercial_partner_id.id for partner in partners}
        queries = [
            (keys, list({partner_id, commercial[partner_id]}) if partner_id else [])
            for _index, keys, partner_id in wanted
        ]
        leads = self.env["vpbx.lead.phone"].sudo()._vpbx_find_leads_many(company_id, queries)
        for (index, _keys, _partner_id), rows in zip(wanted, leads, strict=True):
            vals = vals_list[index]
            vals.update(self._vpbx_lead_values(company_id, found=rows, user_id=vals.get("user_id")))

    @api.model
    def _vpbx_prefetch_links(self, settings, row_ids):
        """The ``_StoredLinks`` of the stored calls `row_ids` of a batch: the lookups their
        records would make one by one to link them (``_vpbx_match_partner``, ``_employee``,
        ``_lead``: the contacts of an unlinked number, the employee of an extension without
        one, the leads of a call without one), each made once for all of them.

        A history sync re-reads the calls of its overlap window: each of those records used to
        cost three lookups and a read of its call."""
        links = _StoredLinks(row_ids)
        calls = self.browse(links.prefetch_ids)
        company_id = settings.company_id
        unlinked = [(call, call._vpbx_number_keys()) for call in calls if not call.partner_id]
        unlinked = [(call, keys) for call, keys in unlinked if keys]
        found = (
            self.env["vpbx.partner.phone"]
            .sudo()
            ._vpbx_find_partners_many(company_id, [keys for _call, keys in unlinked])
        )
        for (_call, keys), candidates in zip(unlinked, found, strict=True):
            links.partners[company_id, tuple(keys)] = candidates
        extensions = {call.extension for call in calls if call.extension and not call.employee_id}
        employees = self._vpbx_employees_of(settings.pbx_id, extensions)
        for extension in extensions:
            links.employees[settings.pbx_id, extension] = employees.get(extension)
        # the leads, with the contact the call has, or gets first (_vpbx_upsert_record's order),
        # and its commercial entity's opportunities: that column of all the contacts at once
        leadless = calls.filtered(lambda call: not call.lead_id)
        leadless.partner_id.with_context(prefetch_fields=False).mapped("commercial_partner_id")
        wanted = []
        for call in leadless:
            keys = call._vpbx_number_keys()
            if call.partner_id:
                partner_id = call.partner_id.id
            else:
                candidates = links.partners.get((company_id, tuple(keys)), [])
                if len(candidates) > 1:
                    continue  # which one reads the number's earlier calls: left to the record
                partner_id = candidates[0][0] if candidates else None
            if keys or partner_id:
                wanted.append((keys, self._vpbx_lead_partner_ids(partner_id)))
        leads = self.env["vpbx.lead.phone"].sudo()._vpbx_find_leads_many(company_id, wanted)
        for (keys, partner_ids), rows in zip(wanted, leads, strict=True):
            links.leads[links.lead_key(company_id, keys, partner_ids)] = rows
        return links

    @api.model
    def _vpbx_employees_of(self, pbx_id, extensions):
        """{extension: (employee id, user id)} of the active employees of the account `pbx_id`
        with these extensions (the oldest when several share one): one indexed query."""
        if not extensions:
            return {}
        self.env["hr.employee"].flush_model(["vpbx_extension", "vpbx_pbx_id", "active", "user_id"])
        self.env.cr.execute(
            "SELECT DISTINCT ON (vpbx_extension) vpbx_extension, id, user_id FROM hr_employee"
            " WHERE vpbx_extension = ANY(%s) AND vpbx_pbx_id = %s AND active"
            " ORDER BY vpbx_extension, id",
            [list(extensions), pbx_id],
        )
        return {row[0]: (row[1], row[2]) for row in self.env.cr.fetchall()}

    @api.model
    def _vpbx_values(self, settings, record):
        vals = {}
        for attr, fname in RECORD_FIELDS.items():
            value = getattr(record, attr, None)
            if value is not None and value != "":
                vals[fname] = value
        if "customer_number" in vals:
            keys = phone_keys(vals["customer_number"], settings.region)
            vals["customer_number_normalized"] = keys[0] if keys else False
            vals["customer_number_alt_key"] = keys[1] if len(keys) > 1 else False
        return vals

    @api.model
    def _vpbx_lock_call(self, settings, call_id):
        """``(id, is_click2call, any_pending)``: the call of (account, `call_id`), its row
        locked (id None when there is none yet: a concurrent insert of the same call then fails
        on the unique index), and whether the account has any pending click-to-call at all."""
        locked, pending = self._vpbx_lock_calls(settings.pbx_id, [call_id])
        row_id, is_click2call = locked.get(call_id, (None, None))
        return row_id, is_click2call, pending

    @api.model
    def _vpbx_lock_calls(self, pbx_id, call_ids):
        """``({call id: (row id, is_click2call)}, any_pending)``: the stored calls of the account
        among `call_ids`, their rows locked in call id order (concurrent batches lock in the
        same order), and whether the account has any pending click-to-call at all.

        One query for both: most deliveries have no pending click-to-call to claim.
        """
        self.flush_model(["vpbx_call_id", "pbx_id", "vpbx_click2call", "is_final"])
        self.env.cr.execute(
            """
            WITH locked AS (
                SELECT vpbx_call_id, id, vpbx_click2call FROM vpbx_call
                 WHERE pbx_id = %(pbx)s AND vpbx_call_id = ANY(%(calls)s)
              ORDER BY vpbx_call_id
                   FOR NO KEY UPDATE
            )
            SELECT locked.vpbx_call_id, locked.id, locked.vpbx_click2call,
                   EXISTS(SELECT 1 FROM vpbx_call p
                           WHERE p.pbx_id = %(pbx)s AND p.vpbx_click2call
                             AND p.is_final IS NOT TRUE)
              FROM (VALUES (1)) AS one LEFT JOIN locked ON TRUE
            """,
            {"pbx": pbx_id, "calls": list(call_ids)},
            # a serialization failure is expected under concurrency, and retried: not logged
            log_exceptions=False,
        )
        rows = self.env.cr.fetchall()
        locked = {row[0]: (row[1], row[2]) for row in rows if row[0]}
        return locked, rows[0][3]

    @api.model
    def _vpbx_upsert_record(self, settings, record, call_id=None, links=None, relink=None):
        """Upsert one CallRecord; returns (call, applied, created). `call_id`: the row of its
        call, already locked with no click-to-call pending (``_vpbx_new_calls``); `links`: the
        batch's ``_StoredLinks``; `relink`: a set receiving the call's id when the record
        wrote one of its CALLBACK_FIELDS."""
        if call_id is None:
            call_id, is_click2call, any_pending = self._vpbx_lock_call(settings, record.call_id)
            if any_pending:
                call_id = self._vpbx_claim_click2call(settings, record, call_id, is_click2call)
        if call_id is None:
            # a record that claimed no click-to-call: a new call, as in a batch
            ((call, change),) = self._vpbx_insert_calls(settings, [record])
            self._vpbx_after_insert(settings, call, change)
            return call, True, True
        vals = self._vpbx_values(settings, record)
        call = self.browse(call_id)
        if links is not None:
            call = call.with_prefetch(links.prefetch_ids)
        was_final = call.is_final
        if was_final and not record.is_final:
            # a late live event never undoes the final record; it may fill gaps
            vals = {fname: value for fname, value in vals.items() if value and not call[fname]}
            vals.pop("direction", None)
            if not vals:
                return call, False, False
        elif record.is_final or call.status != "in_progress" or record.status != "ringing":
            vals.update(status=record.status, is_final=record.is_final)
        # else: a late ringing event never undoes the answer
        number_changed = (
            "customer_number_normalized" in vals
            and vals["customer_number_normalized"] != call.customer_number_normalized
        )
        if number_changed:
            vals.update(
                partner_id=False,
                is_ambiguous=False,
                candidate_partner_ids=[Command.clear()],
                lead_id=False,
                candidate_lead_ids=[Command.clear()],
            )
        if call.employee_id and vals.get("extension", call.extension) != call.extension:
            # another extension took the call (e.g. a ring group): find its employee again
            vals.update(employee_id=False, user_id=False)
        # a record read again (a history sync's overlap) mostly changes nothing: no write
        vals = call._vpbx_changed_values(vals)
        if vals:
            call.write(vals)
            if relink is not None and not CALLBACK_FIELDS.isdisjoint(vals):
                relink.add(call.id)
        if not call.partner_id and (
            call.customer_number_normalized or call.customer_number_alt_key
        ):
            call._vpbx_match_partner(links)
        if call.extension and not call.employee_id:
            call._vpbx_match_employee(links)
        if not call.lead_id:
            call._vpbx_match_lead(links)
        if call.is_final and not was_final:
            call._vpbx_on_final(settings, links)
        if not self.env.context.get("vpbx_no_followup"):
            self.env["vpbx.live.call"]._vpbx_notify(call, settings, record)
        return call, True, False

    def _vpbx_changed_values(self, vals):
        """The values of `vals` that differ from the call's, compared as the ORM stores them
        (a date's microseconds, a float's digits); relational commands are kept."""
        self.ensure_one()
        changed = {}
        for fname, value in vals.items():
            field = self._fields[fname]
            if field.type in ("one2many", "many2many"):
                changed[fname] = value
                continue
            stored = field.convert_to_record(
                field.convert_to_cache(value, self, validate=False), self
            )
            if stored != self[fname]:
                changed[fname] = value
        return changed

    # ------------------------------------------------------------------ click-to-call claim

    @api.model
    def _vpbx_claim_click2call(self, settings, record, call_id, is_click2call):
        """The id of the call `record` completes, after claiming a pending click-to-call.

        No call with the record's id yet: the pending click-to-call it completes takes that id
        (and its row is locked); none: None (a new call). A call with that id exists already
        (its live event beat the click-to-call's own row): the pending row is merged into it.
        """
        if call_id:
            if not is_click2call and record.direction != "inbound":
                self._vpbx_merge_click2call(settings, record, self.browse(call_id))
            return call_id
        pending = self._vpbx_find_click2call(settings, record)
        if not pending:
            return None
        pending.write({"vpbx_call_id": record.call_id})
        return self._vpbx_lock_call(settings, record.call_id)[0]

    @api.model
    def _vpbx_merge_click2call(self, settings, record, call):
        """Move who called and whom from a pending click-to-call onto `call`, drop the former."""
        ids = list({value for value in (record.call_id, record.call_uuid) if value})
        pending = self.search(
            [
                ("pbx_id", "=", settings.pbx_id),
                ("vpbx_click2call", "=", True),
                ("status", "=", "calling"),
                ("call_uuid", "in", ids),
                ("id", "!=", call.id),
            ],
            limit=1,
        )
        if not pending:
            return
        vals = {"vpbx_click2call": True}
        for fname in ("partner_id", "lead_id", "employee_id", "user_id"):
            if pending[fname] and not call[fname]:
                vals[fname] = pending[fname].id
        call.write(vals)
        pending.unlink()

    @api.model
    def _vpbx_find_click2call(self, settings, record):
        base = [
            ("pbx_id", "=", settings.pbx_id),
            ("vpbx_click2call", "=", True),
            ("is_final", "=", False),
        ]
        ids = list({value for value in (record.call_id, record.call_uuid) if value})
        call = self.search([*base, ("call_uuid", "in", ids)], order="id desc", limit=1)
        if call:
            return call
        minutes = settings.click2call_match_minutes
        if (
            record.direction == "inbound"
            or not record.extension
            or not record.customer_number
            or minutes <= 0
        ):
            return call
        keys = phone_keys(record.customer_number, settings.region)
        if not keys:
            return call
        moment = record.start_time or fields.Datetime.now()
        window = timedelta(minutes=minutes)
        candidates = self.search(
            [
                *base,
                ("status", "=", "calling"),
                ("extension", "=", record.extension),
                ("start_time", ">=", moment - window),
                ("start_time", "<=", moment + window),
                "|",
                ("customer_number_normalized", "in", keys),
                ("customer_number_alt_key", "in", keys),
            ]
        )
        # the one started closest to the PBX's start time
        return min(candidates, key=lambda c: abs(c.start_time - moment), default=call)

    # ------------------------------------------------------------------ linking

    def _vpbx_number_keys(self):
        self.ensure_one()
        keys = (self.customer_number_normalized, self.customer_number_alt_key)
        return [key for key in keys if key]

    def _vpbx_match_partner(self, links=None):
        """Link each call to the contact having its number (see is_ambiguous for the rule).
        `links`: the lookups already made for a batch (``_StoredLinks``)."""
        for call in self:
            keys = call._vpbx_number_keys()
            candidates = None
            if links is not None:
                candidates = links.partners.get((call.company_id.id, tuple(keys)))
            vals = call._vpbx_partner_values(
                call.company_id.id, keys, exclude_call_id=call.id, candidates=candidates
            )
            if vals:
                call.write(vals)

    @api.model
    def _vpbx_partner_values(self, company_id, keys, exclude_call_id=None, candidates=None):
        """partner_id, is_ambiguous and candidates of a call of `company_id` with these number
        keys; {} when no contact has the number. `candidates`: the contacts of the keys when
        already looked up (``vpbx.partner.phone._vpbx_find_partners``)."""
        if candidates is None:
            candidates = self.env["vpbx.partner.phone"].sudo()._vpbx_find_partners(company_id, keys)
        if not candidates:
            return {}
        if len(candidates) == 1:
            return {
                "partner_id": candidates[0][0],
                "is_ambiguous": False,
                "candidate_partner_ids": [Command.clear()],
            }
        return {
            "partner_id": self._vpbx_pick_partner(company_id, candidates, keys, exclude_call_id),
            "is_ambiguous": True,
            "candidate_partner_ids": [Command.set([c[0] for c in candidates])],
        }

    @api.model
    def _vpbx_pick_partner(self, company_id, candidates, keys, exclude_call_id=None):
        """The one rule for several contacts with the number, in order:

        1. the best reading: a contact holding today's form of the number beats one matched only
           through an old reading (e.g. 028 3823 4567 vs the 083 mobile of 08 3823 4567);
        2. the contact this number's latest earlier call was linked to;
        3. a company rather than one of its people;
        4. the oldest contact (lowest id).
        """
        best_score = min(score for _pid, score, _is_company in candidates)
        best = [c for c in candidates if c[1] == best_score]
        if len(best) > 1:
            self.flush_model(["partner_id", "customer_number_normalized", "start_time"])
            self.env.cr.execute(
                """
                SELECT partner_id FROM vpbx_call
                 WHERE company_id = %s AND customer_number_normalized = ANY(%s)
                   AND partner_id = ANY(%s) AND id != %s
              ORDER BY start_time DESC NULLS LAST, id DESC
                 LIMIT 1
                """,
                [company_id, keys, [c[0] for c in best], exclude_call_id or 0],
            )
            row = self.env.cr.fetchone()
            if row:
                return row[0]
        best.sort(key=lambda c: (not c[2], c[0]))
        return best[0][0]

    @api.model
    def _vpbx_relink_unlinked(self, keys):
        """Link the unlinked calls whose number has one of `keys` (a contact got that number).

        One indexed query on the two key columns; the matching rule then runs on the few calls
        found, each against its own company's contacts.
        """
        self.flush_model(["partner_id", "customer_number_normalized", "customer_number_alt_key"])
        self.env.cr.execute(
            "SELECT id FROM vpbx_call WHERE partner_id IS NULL"
            " AND (customer_number_normalized = ANY(%s) OR customer_number_alt_key = ANY(%s))",
            [keys, keys],
        )
        ids = [row[0] for row in self.env.cr.fetchall()]
        if ids:
            self.browse(ids)._vpbx_match_partner()
        return ids

    # ------------------------------------------------------------------ leads

    def _vpbx_match_lead(self, links=None):
        """Link each call without a lead to its caller's open lead or opportunity.
        `links`: the lookups already made for a batch (``_StoredLinks``)."""
        for call in self:
            keys = call._vpbx_number_keys()
            if not keys and not call.partner_id:
                continue
            found = None
            if links is not None:
                partner_ids = self._vpbx_lead_partner_ids(call.partner_id.id)
                found = links.leads.get(links.lead_key(call.company_id.id, keys, partner_ids))
            vals = call._vpbx_lead_values(
                call.company_id.id,
                keys,
                call.partner_id.id,
                call.user_id.id,
                found=None if found is None else list(found),
            )
            if vals:
                call.write(vals)

    @api.model
    def _vpbx_lead_values(self, company_id, keys=(), partner_id=None, user_id=None, found=None):
        """lead_id and candidate_lead_ids of a call of `company_id` with these number keys and
        contact; {} when the caller has no open lead.

        The rule (one lead, the others listed):
        1. the contact's open opportunities (its own or its company's) before the open leads
           that only carry the number;
        2. assigned to the call's agent;
        3. an opportunity rather than a lead;
        4. the most recently updated, then the newest.

        `found`: the caller's leads when already looked up (``vpbx.lead.phone._vpbx_find_leads``).
        """
        if found is None:
            found = (
                self.env["vpbx.lead.phone"]
                .sudo()
                ._vpbx_find_leads(company_id, keys, self._vpbx_lead_partner_ids(partner_id))
            )
        if not found:
            return {}
        found.sort(
            key=lambda row: (
                not row[3],
                not (user_id and row[2] == user_id),
                not row[1],
                -(row[4].timestamp() if row[4] else 0),
                -row[0],
            )
        )
        return {
            "lead_id": found[0][0],
            "candidate_lead_ids": [Command.set([row[0] for row in found])]
            if len(found) > 1
            else [Command.clear()],
        }

    @api.model
    def _vpbx_lead_partner_ids(self, partner_id):
        """The contacts whose open opportunities a call of contact `partner_id` links to: the
        contact and its commercial entity."""
        if not partner_id:
            return []
        partner = self.env["res.partner"].sudo().browse(partner_id)
        return list({partner.id, partner.commercial_partner_id.id})

    @api.model
    def _vpbx_relink_unlinked_leads(self, keys):
        """Link the calls without a lead whose number has one of `keys` (a lead got it)."""
        self.flush_model(["lead_id", "customer_number_normalized", "customer_number_alt_key"])
        self.env.cr.execute(
            "SELECT id FROM vpbx_call WHERE lead_id IS NULL"
            " AND (customer_number_normalized = ANY(%s) OR customer_number_alt_key = ANY(%s))",
            [keys, keys],
        )
        ids = [row[0] for row in self.env.cr.fetchall()]
        if ids:
            self.browse(ids)._vpbx_match_lead()
        return ids

    def _vpbx_match_employee(self, links=None):
        """The employee whose extension took the call, on the call's account, and its user.
        `links`: the lookups already made for a batch (``_StoredLinks``)."""
        for call in self:
            vals = call._vpbx_employee_values(call.pbx_id.id, call.extension, links)
            if vals:
                vals["user_id"] = vals["user_id"] or call.user_id.id
                call.write(vals)

    @api.model
    def _vpbx_employee_values(self, pbx_id, extension, links=None):
        """employee_id and user_id of the active employee of the account `pbx_id` with `extension`
        (the oldest if several); {} when none."""
        if links is not None and (pbx_id, extension) in links.employees:
            row = links.employees[pbx_id, extension]
        else:
            row = self._vpbx_employees_of(pbx_id, {extension}).get(extension)
        return {"employee_id": row[0], "user_id": row[1] or False} if row else {}

    # ------------------------------------------------------------------ when a call ends

    def _vpbx_on_final(self, settings, links=None):
        """Side effects of the transition to final: called once per call.

        A history import of a past range sets ``vpbx_no_followup``: calls of last month get
        no chatter note and no call-back activity. `links`: the batch's ``_StoredLinks``,
        whose leads are looked up again after this (it may make a lead, post on one).
        """
        self.ensure_one()
        # reporting data, also for a history import (time to call back: once per batch, see
        # _vpbx_upsert_records)
        outcome = self._vpbx_outcome_from_pbx()
        if self.env.context.get("vpbx_no_followup"):
            return
        if links is not None:
            links.leads.clear()
        if not self.lead_id and not self.partner_id and not self.candidate_partner_ids:
            self.env["vpbx.lead.day"]._vpbx_lead_for_unknown(self, settings)
        if outcome.schedules_callback and self.user_id:
            self._vpbx_schedule_outcome_callback(outcome, self.user_id)
        if (self.partner_id or self.lead_id) and settings.post_call_note:
            self._vpbx_post_note()
        if self.direction == "inbound" and self.status in CALLBACK_STATUSES:
            self._vpbx_schedule_callback(settings)

    def _vpbx_agent_label(self):
        # the name alone (for the batch's employees at once), not the wide hr.employee row
        employee = self.employee_id.with_context(prefetch_fields=False)
        return employee.name or self.agent_name or self.extension or ""

    def _vpbx_note_texts(self):
        """What every call's note is written with, in the current language, looked up once per
        transaction: ``env._`` finds the caller's module from its frames and a selection's
        labels are translated at each read, each ~0.1 ms per call of a queue batch."""
        key = ("vpbx_note_texts", self.env.lang)
        texts = self.env.cr.cache.get(key)
        if texts is None:
            _ = self.env._
            texts = self.env.cr.cache[key] = {
                "direction": dict(self._fields["direction"]._description_selection(self.env)),
                "status": dict(self._fields["status"]._description_selection(self.env)),
                "call": _("%(direction)s call, %(status)s, duration %(duration)s"),
                "agent": _("%(call)s, agent %(agent)s"),
                "recording": _("Recording"),
                "recording_text": _("%(label)s: %(text)s"),
                "subtype_id": self.env["ir.model.data"]._xmlid_to_res_id("mail.mt_note"),
            }
        return texts

    def _vpbx_post_note(self):
        self.ensure_one()
        # written for the team in the language of the call's agent (else the company's), not
        # in the webhook request's (the PBX sends no language: English)
        lang = self.user_id.lang or self.company_id.partner_id.lang
        if lang and lang != self.env.lang:
            return self.with_context(lang=lang)._vpbx_post_note()
        texts = self._vpbx_note_texts()
        text = texts["call"] % {
            "direction": texts["direction"].get(self.direction, self.direction),
            "status": texts["status"].get(self.status, self.status),
            "duration": _format_seconds(self.duration),
        }
        agent = self._vpbx_agent_label()
        if agent:
            text = texts["agent"] % {"call": text, "agent": agent}
        body = Markup("<p>%s</p>") % text + self._vpbx_recording_html(texts)
        # A note notifies nobody: written as the row mail.message's create would write, every
        # value given (call_notes.py), without reading the author's email and the company's
        # catchall for a reply-to that nobody uses. message_post's recipient and notification
        # work would double the cost of a webhook delivery.
        # The same note on the contact and on the lead or opportunity of the call
        targets = [
            (model, record.id)
            for model, record in (("res.partner", self.partner_id), ("crm.lead", self.lead_id))
            if record
        ]
        values_list = [self._vpbx_note_values(model, res_id, body) for model, res_id in targets]
        upsert_notes = self.env.cr.precommit.data.get(UPSERT_NOTES_KEY)
        if upsert_notes is not None and not self.env.context.get("vpbx_batch_notes"):
            # inside an upsert (a history page, a delivery): its notes in one INSERT at its end
            upsert_notes.extend(values_list)
            return
        if self.env.context.get("vpbx_batch_notes"):
            # a batch of the webhook queue: every note of the batch in one create, just before
            # its commit (a rolled back batch drops them with the rest)
            pending = self.env.cr.precommit.data.setdefault(NOTES_KEY, [])
            if not pending:
                self.env.cr.precommit.add(self.env["vpbx.call"]._vpbx_create_pending_notes)
            pending.extend(values_list)
            return
        call_notes.insert_notes(self.env, values_list)

    def _vpbx_note_values(self, model, res_id, body):
        return {
            "model": model,
            "res_id": res_id,
            "body": body,
            "message_type": "comment",
            "is_internal": True,
            "subtype_id": self._vpbx_note_texts()["subtype_id"],
            "author_id": self.user_id.partner_id.id or self._vpbx_current_partner_id(),
            "email_from": False,
            "reply_to": False,
            "record_name": False,
            "record_alias_domain_id": False,
            "record_company_id": False,
        }

    @api.model
    def _vpbx_create_pending_notes(self):
        values_list = self.env.cr.precommit.data.pop(NOTES_KEY, [])
        # called after the commit's flush, like mail's _track_finalize: written by SQL, nothing
        # left to flush
        call_notes.insert_notes(self.env, values_list)

    def _vpbx_current_partner_id(self):
        # webhooks and crons run as the superuser: its partner without reading res_users
        if self.env.uid == SUPERUSER_ID:
            # once per transaction: an ormcache hit still costs ~30 µs
            cache = self.env.cr.cache
            if "vpbx_root_partner_id" not in cache:
                cache["vpbx_root_partner_id"] = self.env["ir.model.data"]._xmlid_to_res_id(
                    "base.partner_root"
                )
            return cache["vpbx_root_partner_id"]
        return self.env.user.partner_id.id

    def _vpbx_local_day(self, user):
        """The call's day in the user's time zone (the company's, else UTC)."""
        tz = pytz.timezone(user.tz or self.env.user.tz or "UTC")
        moment = self.start_time or fields.Datetime.now()
        return pytz.utc.localize(moment).astimezone(tz).date()

    def _vpbx_schedule_callback(self, settings):
        """One open 'Call back' activity per number and day: created once, then updated.

        "Once" holds under concurrent deliveries through the locked row of ``vpbx.callback``.
        The number comes from the PBX: it is text, escaped in the activity's HTML note.
        """
        self.ensure_one()
        user = self.user_id or self.env["res.users"].browse(settings.missed_call_user_id)
        number = self.customer_number_normalized or self.customer_number
        if not user or not number:
            return  # nobody to call back, or no number to call
        if user.lang and self.env.lang != user.lang:
            # the activity is read by its user, not by whoever sent the webhook
            return self.with_context(lang=user.lang)._vpbx_schedule_callback(settings)
        day = self._vpbx_local_day(user)
        Callback = self.env["vpbx.callback"]
        row_id, activity_id, count = Callback._vpbx_count_missed(settings.pbx_id, number, day)
        label = format_display(self.customer_number, settings.region)
        summary = self.env._("Call back %(number)s", number=label)  # plain text (a Char)
        batch = self.env.cr.precommit.data.get(CALLBACKS_KEY)
        pending = batch.get(row_id) if batch is not None else None
        if pending is not None:
            # the batch's activity of this number and day, not created yet: as written after
            pending["count"] += 1
            pending["calls"].append(self.id)
            pending["vals"].update(
                summary=summary, note=self._vpbx_missed_note(pending["count"], label)
            )
            return
        if activity_id:
            activity = self.env["mail.activity"].browse(activity_id)
            activity.write({"summary": summary, "note": self._vpbx_missed_note(count, label)})
            self.callback_activity_id = activity
            return
        # on the lead or opportunity when there is one: sales staff work from the pipeline
        target = self.lead_id or self.partner_id or self
        pending = {
            "count": 1,
            "calls": [self.id],
            "vals": {
                "res_model_id": self.env["ir.model"]._get_id(target._name),
                "res_id": target.id,
                "automated": True,
                "date_deadline": day,
                "summary": summary,
                "note": escape(self.env._("Missed call from %(number)s.", number=label)),
                "user_id": user.id,
            },
        }
        if batch is None:  # outside an upsert: made at once
            self._vpbx_create_callbacks({row_id: pending})
        else:  # made with the upsert's other activities, at its end
            batch[row_id] = pending

    def _vpbx_missed_note(self, count, label):
        return escape(
            self.env._("%(count)s missed calls from %(number)s today.", count=count, number=label)
        )

    @api.model
    def _vpbx_create_callbacks(self, batch):
        """Create the missed-call activities `batch` (``{vpbx.callback id: pending}``) holds in
        one create: what ``activity_schedule`` would create one by one (a quick update: no
        e-mail to the assignee), then link them to their rows and calls."""
        if not batch or self.env.context.get("mail_activity_automation_skip"):
            return
        type_id = self.env["ir.model.data"]._xmlid_to_res_id(CALLBACK_ACTIVITY)
        rows = list(batch.items())
        activities = (
            self.env["mail.activity"]
            .sudo()
            .with_context(mail_activity_quick_update=True)
            .create([dict(pending["vals"], activity_type_id=type_id) for _row, pending in rows])
        )
        self.env["vpbx.callback"]._vpbx_set_activities(
            [
                (row_id, activity.id, pending["count"])
                for (row_id, pending), activity in zip(rows, activities, strict=True)
            ]
        )
        for (_row_id, pending), activity in zip(rows, activities, strict=True):
            self.browse(pending["calls"]).callback_activity_id = activity

    # ------------------------------------------------------------------ recording

    @api.depends("recording_url")
    def _compute_vpbx_recording_src(self):
        for call in self:
            playable = call.id and playable_url(call.recording_url)
            call.vpbx_recording_src = recording_route(call.id) if playable else False

    def _vpbx_archived_attachment(self):
        """The archived audio of this call (superuser record), or an empty recordset."""
        self.ensure_one()
        archive = (
            self.env["vpbx.recording"]
            .sudo()
            .search([("call_id", "=", self.id), ("state", "=", "archived")], limit=1)
        )
        return archive.attachment_id

    def unlink(self):
        # the audio files are attachments of the archive rows, which the database's cascade
        # would leave behind
        self.env["vpbx.recording"].sudo().search([("call_id", "in", self.ids)]).unlink()
        return super().unlink()

    def _vpbx_recording_html(self, texts=None):
        """The recording in a note: a link to the checked route (the chatter adds a player to
        it) for an http(s) URL, the PBX's text escaped otherwise, nothing without one.
        `texts`: ``_vpbx_note_texts()``, in the note's language."""
        self.ensure_one()
        if not self.recording_url:
            return Markup()
        texts = texts or self._vpbx_note_texts()
        if self.vpbx_recording_src:
            return Markup(
                '<p><a class="o_vpbx_recording" href="%s" target="_blank"'
                ' rel="noopener noreferrer">%s</a></p>'
            ) % (self.vpbx_recording_src, texts["recording"])
        text = texts["recording_text"] % {"label": texts["recording"], "text": self.recording_url}
        return Markup("<p>%s</p>") % text

    # ------------------------------------------------------------------ do-not-call

    @api.depends("customer_number_normalized")
    def _compute_vpbx_do_not_call(self):
        blocked = self.env["phone.blacklist"]._vpbx_blocked_keys(
            self.mapped("customer_number_normalized")
        )
        for call in self:
            call.vpbx_do_not_call = call.customer_number_normalized in blocked

    def _search_vpbx_do_not_call(self, operator, value):
        if operator not in ("=", "!="):
            return NotImplemented
        blocked = SQL(BLOCKED_KEYS_SQL)
        if (operator == "=") == bool(value):
            return [("customer_number_normalized", "in", blocked)]
        return [
            "|",
            ("customer_number_normalized", "=", False),
            ("customer_number_normalized", "not in", blocked),
        ]

    def action_vpbx_add_do_not_call(self):
        """Put the numbers of these calls on the do-not-call list (one click, any VPBX user who
        may read the calls)."""
        self.env["vpbx.click2call"]._vpbx_check_access()
        self.check_access("read")
        if len(self) == 1:
            origin = self.env._("the call %(call)s", call=self.display_name)
        else:
            origin = self.env._("%(count)s calls", count=len(self))
        numbers = [call.customer_number_normalized or call.customer_number for call in self]
        region = self[:1]._vpbx_region() if self else "VN"
        return self.env["phone.blacklist"]._vpbx_add_numbers(numbers, region, origin)

    # ------------------------------------------------------------------ UI

    def action_vpbx_open_recording(self):
        self.ensure_one()
        if not self.vpbx_recording_src:
            return False
        return {"type": "ir.actions.act_url", "url": self.vpbx_recording_src, "target": "new"}

    def action_vpbx_call_back(self):
        """Call the customer of this call again from the user's own extension."""
        self.ensure_one()
        return self.env["vpbx.click2call"]._vpbx_click2call(
            self.customer_number, company=self.company_id, partner=self.partner_id or None
        )

    # ------------------------------------------------------------------ time to call back

    def _vpbx_link_callbacks(self):
        """Time to call back, for these calls (final) and the missed calls they may answer.

        A missed inbound call is called back by the first outbound call to its number (answered
        or not, by anyone in the company) that starts after it; until there is one it waits
        (``pending``). Calls come in any order (a history import, deliveries overtaking each
        other), so the link is computed again from the stored calls, not updated step by step:
        the answer does not depend on the order. One statement for a whole batch: the missed
        calls among these, and the missed calls before these outbound calls to their numbers.
        Calls are found through the (number, start) index, one lateral probe each: ``company_id
        + 0`` and ``OFFSET 0`` keep the planner off the company index and off scans, which the
        statistics of a table filling up (an import) can make look cheap.
        """
        calls = self.filtered(lambda c: c.customer_number_normalized and c.start_time)
        if not calls:
            return
        calls.flush_recordset()
        missed = calls.filtered(
            lambda c: c.direction == "inbound" and c.status in CALLBACK_STATUSES
        )
        outbound = calls.filtered(lambda c: c.direction == "outbound")
        if not missed and not outbound:
            return
        self.env.cr.execute(
            """
            WITH waiting AS (
                SELECT unnest(%(missed)s::int[]) AS id
                 UNION
                SELECT m.id FROM unnest(%(outbound)s::int[]) AS outbound(id)
                 CROSS JOIN LATERAL (
                        SELECT customer_number_normalized, start_time, company_id
                          FROM vpbx_call WHERE id = outbound.id OFFSET 0
                       ) b
                 CROSS JOIN LATERAL (
                        SELECT m.id FROM vpbx_call m
                         WHERE m.customer_number_normalized = b.customer_number_normalized
                           AND m.start_time <= b.start_time
                           AND m.company_id + 0 = b.company_id + 0
                           AND m.callback_state IN ('pending', 'done')
                        OFFSET 0
                       ) m
            ), linked AS (
                SELECT m.id, m.start_time, first.id AS first_id, first.start_time AS first_start
                  FROM waiting
                 CROSS JOIN LATERAL (
                        SELECT id, start_time, company_id, customer_number_normalized
                          FROM vpbx_call WHERE id = waiting.id OFFSET 0
                       ) m
             LEFT JOIN LATERAL (
                        SELECT o.id, o.start_time FROM vpbx_call o
                         WHERE o.customer_number_normalized = m.customer_number_normalized
                           AND o.start_time >= m.start_time
                           AND o.company_id + 0 = m.company_id + 0
                           AND o.direction = 'outbound' AND o.is_final
                      ORDER BY o.start_time, o.id LIMIT 1
                       ) first ON TRUE
            )
            UPDATE vpbx_call c
               SET callback_state = CASE WHEN l.first_id IS NULL THEN 'pending' ELSE 'done' END,
                   callback_call_id = l.first_id,
                   callback_minutes = round(
                       (EXTRACT(EPOCH FROM l.first_start - l.start_time) / 60)::numeric, 1)
              FROM linked l
             WHERE c.id = l.id
               AND (c.callback_state IS DISTINCT FROM
                        CASE WHEN l.first_id IS NULL THEN 'pending' ELSE 'done' END
                    OR c.callback_call_id IS DISTINCT FROM l.first_id)
         RETURNING c.id
            """,
            {"missed": missed.ids, "outbound": outbound.ids},
        )
        changed = self.browse([row[0] for row in self.env.cr.fetchall()])
        changed.invalidate_recordset(["callback_state", "callback_call_id", "callback_minutes"])

    # ------------------------------------------------------------------ outcome

    def _vpbx_outcome_from_pbx(self):
        """The outcome the PBX's tag names, set on a call that has none yet (and its note from
        the PBX's note); returns it (empty when none)."""
        self.ensure_one()
        outcome = self.env["vpbx.call.outcome"]
        if self.outcome_id or not (self.pbx_tag or self.pbx_note):
            return outcome
        outcome = outcome._vpbx_from_tag(self.pbx_tag)
        vals = {"outcome_note": self.pbx_note} if self.pbx_note else {}
        if outcome:
            vals.update(outcome_id=outcome.id, outcome_date=fields.Datetime.now())
        if vals:
            self.write(vals)
        return outcome

    def vpbx_set_outcome(self, outcome_id, note=False):
        """Record the outcome of these calls (the call form's wizard, the pop-up).

        A VPBX user records it on the calls they took; a VPBX manager on any call they may
        read. Calls of another company or of another user: AccessError.
        """
        user = self.env.user
        if not self.env.su:
            if not user.has_group(GROUP_USER):
                raise AccessError(self.env._("Only VPBX users record call outcomes."))
            self.check_access("read")  # record rules: the user's calls, their companies
            is_manager = user.has_group(GROUP_MANAGER)
            for call in self:
                if call.company_id not in user.company_ids:
                    raise AccessError(
                        self.env._("This call belongs to a company you do not work for.")
                    )
                if not is_manager and call.user_id != user:
                    raise AccessError(
                        self.env._("You can only record the outcome of calls you took.")
                    )
        outcome = self.env["vpbx.call.outcome"].browse(int(outcome_id or 0)).exists()
        if not outcome:
            raise UserError(self.env._("Choose an outcome for the call."))
        note = (note or "").strip()
        for call in self.sudo():
            call.write(
                {
                    "outcome_id": outcome.id,
                    "outcome_note": note or False,
                    "outcome_user_id": user.id,
                    "outcome_date": fields.Datetime.now(),
                }
            )
            call._vpbx_post_outcome(outcome, note, user)
            if outcome.schedules_callback:
                call._vpbx_schedule_outcome_callback(outcome, user, note)
        return True

    def _vpbx_outcome_targets(self):
        """The records whose chatter shows the call's outcome: the contact (and the lead)."""
        self.ensure_one()
        return [record for record in (self.partner_id, self.lead_id) if record]

    def _vpbx_post_outcome(self, outcome, note, user):
        """A note on the contact's chatter, written in the language of the agent who wrote it;
        the PBX's and the agent's text escaped."""
        self.ensure_one()
        call = self.with_context(lang=user.lang or self.env.lang)
        _ = call.env._
        label = format_display(self.customer_number, self._vpbx_region()) or ""
        outcome_name = outcome.with_context(lang=user.lang or self.env.lang).name
        body = Markup("<p>%s</p>") % _(
            "Outcome of the call with %(number)s: %(outcome)s", number=label, outcome=outcome_name
        )
        if note:
            body += Markup("<p>%s</p>") % note
        for target in self._vpbx_outcome_targets():
            target.sudo().message_post(
                body=body,
                message_type="comment",
                subtype_xmlid="mail.mt_note",
                author_id=user.partner_id.id,
            )

    def _vpbx_schedule_outcome_callback(self, outcome, user, note=""):
        """The 'Call back' activity an outcome asks for, for `user`, in their language."""
        self.ensure_one()
        call = self.with_context(lang=user.lang or self.env.lang)
        label = format_display(self.customer_number, self._vpbx_region()) or ""
        deadline = call._vpbx_local_day(user) + timedelta(days=outcome.callback_days or 0)
        targets = self._vpbx_outcome_targets()
        target = (targets[-1] if targets else self).sudo().with_context(lang=call.env.lang)
        target.activity_schedule(
            CALLBACK_ACTIVITY,
            date_deadline=deadline,
            summary=call.env._("Call back %(number)s", number=label),
            note=escape(note or outcome.with_context(lang=call.env.lang).name),
            user_id=user.id,
        )

    @api.model
    def vpbx_call_center(self, days=30):
        """The Call center dashboard's figures over the last `days` days, for the calls the
        user may read: answer rate of inbound calls, missed calls not called back, median time
        to call back, calls per day."""
        days = max(1, min(int(days or 30), 366))
        since = fields.Datetime.now() - timedelta(days=days)
        query = self._search([("is_final", "=", True), ("start_time", ">=", since)])
        # the query's own FROM and WHERE (record rules included), not "id IN (subquery)": the
        # planner then reads the period's rows by the start_time index alone
        self.env.cr.execute(
            SQL(
                """
                SELECT count(*),
                       count(*) FILTER (WHERE "vpbx_call".direction = 'inbound'),
                       count(*) FILTER (WHERE "vpbx_call".direction = 'inbound'
                                          AND "vpbx_call".status = 'answered'),
                       count(*) FILTER (WHERE "vpbx_call".callback_state = 'pending'),
                       count(*) FILTER (WHERE "vpbx_call".callback_state = 'done'),
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY "vpbx_call".callback_minutes)
                           FILTER (WHERE "vpbx_call".callback_state = 'done'),
                       avg("vpbx_call".talk_duration) FILTER (WHERE "vpbx_call".status = 'answered')
                  FROM %s WHERE %s
                """,
                query.from_clause,
                query.where_clause,
            )
        )
        total, inbound, answered, pending, done, median, talk = self.env.cr.fetchone()
        return {
            "days": days,
            "calls": total,
            "per_day": round(total / days, 1),
            "inbound": inbound,
            "answered": answered,
            "answer_rate": round(100 * answered / inbound, 1) if inbound else None,
            "missed_not_called_back": pending,
            "called_back": done,
            "median_callback_minutes": round(median, 1) if median is not None else None,
            "average_talk_seconds": round(talk) if talk is not None else None,
            "since": fields.Datetime.to_string(since),
        }
