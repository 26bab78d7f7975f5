"""Live calls: who is told that a call rings, who took it, that it ended; and what the pop-up
reads.

The upsert of a call (``vpbx.call._vpbx_upsert_record``) ends with ``_vpbx_notify``:
the rules of ``services.live_call`` say what to send, this file finds the users. A notification
goes over ``bus.bus`` to the user's own channel (sent when the delivery's transaction commits)
and carries ids only: the pop-up reads what it shows with ``vpbx_live_card``, under the user's
own rights. A live event costs no chatter note, no activity and, when nothing changes for
anyone (a re-send), not even a write.

Who is told: the users of the active employees whose extension rings on the call's account,
who are VPBX users and may work in the account's company.
"""

from datetime import datetime, time, timedelta

import pytz

from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import format_amount, html2plaintext

from ..const import CALLBACK_ACTIVITY, GROUP_USER
from ..services.call_mapping import state_token
from ..services.live_call import (
    NOTIFICATION_TYPE,
    call_stage,
    join_extensions,
    live_change,
    split_extensions,
)
from ..services.phone import format_display
from . import bus_notify

#: What the pop-up lists of a number's earlier calls, of a contact's activities
CARD_CALLS = 5
CARD_ACTIVITIES = 5
CARD_LEADS = 5
NOTE_LENGTH = 300
#: Calls of the day listed in the systray
RECENT_CALLS = 10
#: The pushes of a batch, sent just before its commit (see _vpbx_send)
PUSHES_KEY = "sentech_vpbx.live_pushes"
#: What the live stage of a call depends on
LIVE_FIELDS = (
    "direction",
    "status",
    "is_final",
    "extension",
    "vpbx_live_stage",
    "vpbx_live_extensions",
)


class VpbxLiveCall(models.AbstractModel):
    _name = "vpbx.live.call"
    _description = "VPBX Live Calls"

    # ------------------------------------------------------------------ notifying

    @api.model
    def _vpbx_notify(self, call, settings, record):
        """Tell the users of the extensions of `call` what `record` changed, once per stage (the
        call's row is locked by the upsert: concurrent deliveries of one call take turns here)."""
        call.ensure_one()
        values = {fname: call[fname] for fname in LIVE_FIELDS}
        change = self._vpbx_live_change(values, settings, record)
        if change is None:
            return
        call.write(self._vpbx_live_values(change))
        self._vpbx_send(call, settings, change)

    @api.model
    def _vpbx_live_change(self, call, settings, record):
        """The LiveChange `record` makes to the call of values `call` (LIVE_FIELDS: those of a
        stored call, or of the call about to be created, which is then written once), None for
        nothing to tell."""
        if call.get("direction") != "inbound":
            return None  # the pop-up is for a customer calling in
        if record.is_final and not call.get("vpbx_live_stage"):
            return None  # the common case of a final record: nobody was shown this call
        if not record.is_final and state_token(record.state) not in settings.mapping.live_states:
            return None  # a garbled or unknown state opens no pop-up (the call is stored anyway)
        extensions = list(record.ringing_extensions)
        if call.get("extension") and call.get("status") == "in_progress":
            extensions.append(call.get("extension"))  # the answerer
        return live_change(
            call.get("vpbx_live_stage") or False,
            split_extensions(call.get("vpbx_live_extensions") or False),
            call_stage(call.get("status"), bool(call.get("is_final"))),
            tuple(extensions),
        )

    @api.model
    def _vpbx_live_values(self, change):
        return {
            "vpbx_live_stage": change.stage,
            "vpbx_live_extensions": join_extensions(change.known_extensions)[:1000],
        }

    @api.model
    def _vpbx_send(self, call, settings, change):
        """Push `change` of `call` to the users of its extensions (sent once committed). In a
        batch of the queue (context ``vpbx_batch_notes``, as its notes) the batch's pushes are
        gathered and sent just before its commit, with one recipients query and one bus
        INSERT (a rolled back batch drops them with the rest)."""
        if not (change.kind and change.extensions):
            return
        push = (
            settings.pbx_id,
            settings.company_id,
            tuple(change.extensions),
            {"call_id": call.id, "stage": change.kind},
        )
        if self.env.context.get("vpbx_batch_notes"):
            pending = self.env.cr.precommit.data.setdefault(PUSHES_KEY, [])
            if not pending:
                self.env.cr.precommit.add(self.env["vpbx.live.call"]._vpbx_send_pending)
            pending.append(push)
            return
        self._vpbx_push([push])

    @api.model
    def _vpbx_send_pending(self):
        self._vpbx_push(self.env.cr.precommit.data.pop(PUSHES_KEY, []))

    @api.model
    def _vpbx_push(self, pushes):
        """Send ``(account, company, extensions, message)`` pushes: the recipients of all of
        them in one query per account, the bus rows in one INSERT."""
        wanted = {}
        for pbx_id, company_id, extensions, _message in pushes:
            wanted.setdefault((pbx_id, company_id), set()).update(extensions)
        found = {
            account: self._vpbx_recipients_by_extension(*account, extensions)
            for account, extensions in wanted.items()
        }
        messages = []
        for pbx_id, company_id, extensions, message in pushes:
            of = found[(pbx_id, company_id)]
            partner_ids = {pid for ext in extensions for _uid, pid in of.get(ext, ())}
            messages.append((sorted(partner_ids), message))
        bus_notify.send_many(self.env, NOTIFICATION_TYPE, messages)

    @api.model
    def _vpbx_live_users(self, pbx_id, company_id, extensions):
        """The users to tell of a call of account `pbx_id` ringing on `extensions`: those of
        the active employees with one of these extensions on this very account, active VPBX
        users allowed in the account's company."""
        recipients = self._vpbx_live_recipients(pbx_id, company_id, extensions)
        return self.env["res.users"].sudo().browse(sorted(uid for uid, _pid in recipients))

    @api.model
    def _vpbx_live_recipients(self, pbx_id, company_id, extensions):
        """``[(user id, partner id)]`` of `_vpbx_live_users`, in one query: the partner is the
        user's bus channel."""
        found = self._vpbx_recipients_by_extension(pbx_id, company_id, extensions)
        return sorted({pair for pairs in found.values() for pair in pairs})

    @api.model
    def _vpbx_recipients_by_extension(self, pbx_id, company_id, extensions):
        """``{extension: [(user id, partner id)]}`` of `_vpbx_live_users`, in one query."""
        if not extensions:
            return {}
        group_id = self.env["ir.model.data"]._xmlid_to_res_id(GROUP_USER)
        self.env["hr.employee"].flush_model(["vpbx_extension", "vpbx_pbx_id", "active", "user_id"])
        self.env["res.users"].flush_model(["active", "partner_id", "company_ids", "groups_id"])
        self.env.cr.execute(
            """
            SELECT DISTINCT e.vpbx_extension, u.id, u.partner_id FROM hr_employee e
              JOIN res_users u ON u.id = e.user_id AND u.active
              JOIN res_company_users_rel c ON c.user_id = u.id AND c.cid = %(company)s
              JOIN res_groups_users_rel g ON g.uid = u.id AND g.gid = %(group)s
             WHERE e.vpbx_pbx_id = %(pbx)s AND e.vpbx_extension = ANY(%(extensions)s)
               AND e.active
            """,
            {
                "pbx": pbx_id,
                "company": company_id,
                "group": group_id,
                "extensions": list(extensions),
            },
        )
        found = {}
        for extension, user_id, partner_id in self.env.cr.fetchall():
            found.setdefault(extension, []).append((user_id, partner_id))
        return found

    @api.model
    def _vpbx_live_user_ids(self, call):
        """Ids of the users the live notifications of `call` are (or were) for."""
        extensions = split_extensions(call.vpbx_live_extensions)
        if call.extension:
            extensions += (call.extension,)
        users = self._vpbx_live_users(call.pbx_id.id, call.company_id.id, extensions)
        return set(users.ids) | ({call.user_id.id} if call.user_id else set())

    # ------------------------------------------------------------------ the pop-up's reads

    @api.model
    def _vpbx_live_call(self, call_id):
        """The call `call_id` as superuser, if the current user is one of those it rang for;
        else AccessError: the pop-up reads nothing of calls that are not the user's."""
        call = self.env["vpbx.call"].sudo().browse(int(call_id)).exists()
        if not call or self.env.uid not in self._vpbx_live_user_ids(call):
            raise AccessError(self.env._("This call did not ring on your phone."))
        return call

    @api.model
    def vpbx_live_card(self, call_id):
        """What the pop-up shows of a call that rang on the user's phone: the number, the
        contact(s), earlier calls with the number, the contact's last note and open activities.
        Everything but the call itself is read under the user's own rights."""
        call = self._vpbx_live_call(call_id)
        status = dict(self.env["vpbx.call"]._fields["status"]._description_selection(self.env))
        answered = call.status in ("in_progress", "answered")
        partners = self._vpbx_readable(call.candidate_partner_ids.ids or call.partner_id.ids)
        main = self._vpbx_readable(call.partner_id.ids)
        return {
            "id": call.id,
            "stage": call.vpbx_live_stage or call_stage(call.status, call.is_final),
            "status": call.status,
            "status_label": status.get(call.status, call.status),
            "number": call.customer_number or "",
            "number_display": format_display(call.customer_number, call._vpbx_region()),
            "customer_name": call.customer_name or "",
            "answered_by": call._vpbx_agent_label() if answered else "",
            "answered_by_me": bool(answered and call.user_id.id == self.env.uid),
            "has_hidden_contact": bool(call.partner_id) and not main,
            "can_create_partner": self.env["res.partner"].has_access("create"),
            "partner": self._vpbx_partner_card(main, full=True) if main else False,
            "candidates": [self._vpbx_partner_card(p) for p in partners]
            if len(partners) > 1
            else [],
            "last_calls": self._vpbx_card_calls(call),
            "leads": self._vpbx_card_leads(call),
            "can_create_lead": self.env["crm.lead"].has_access("create"),
            **self._vpbx_card_outcome(call),
        }

    @api.model
    def _vpbx_readable(self, partner_ids):
        partners = self.env["res.partner"].browse(partner_ids).exists()
        return partners._filtered_access("read")

    @api.model
    def _vpbx_partner_card(self, partner, full=False):
        card = {
            "id": partner.id,
            "name": partner.display_name or "",
            "company": "",
            "salesperson": "",
            "tags": [],
            "image": f"/web/image/res.partner/{partner.id}/avatar_128",
        }
        # each part alone: a related record the user may not read leaves only its part out
        for key, read in (
            ("company", lambda: partner.parent_id.name or partner.company_name or ""),
            ("salesperson", lambda: partner.user_id.name or ""),
            ("tags", lambda: [{"id": t.id, "name": t.name} for t in partner.category_id]),
        ):
            try:
                card[key] = read()
            except AccessError:
                continue
        if full:
            card["last_note"] = self._vpbx_last_note(partner)
            card["activities"] = self._vpbx_card_activities(partner)
        return card

    @api.model
    def _vpbx_last_note(self, partner):
        message = self.env["mail.message"].search(
            [
                ("model", "=", "res.partner"),
                ("res_id", "=", partner.id),
                ("message_type", "=", "comment"),
            ],
            order="id desc",
            limit=1,
        )
        text = html2plaintext(message.body or "").strip() if message else ""
        return text[:NOTE_LENGTH]

    @api.model
    def _vpbx_card_activities(self, partner):
        activities = self.env["mail.activity"].search(
            [("res_model", "=", "res.partner"), ("res_id", "=", partner.id)],
            order="date_deadline, id",
            limit=CARD_ACTIVITIES,
        )
        return [
            {
                "id": activity.id,
                "summary": activity.summary or activity.activity_type_id.name or "",
                "date_deadline": fields.Date.to_string(activity.date_deadline),
                "user": activity.user_id.name or "",
            }
            for activity in activities
        ]

    @api.model
    def _vpbx_card_leads(self, call):
        """The caller's open leads and opportunities the user may read: the call's own first
        (see vpbx.call.lead_id for the rule), then the others."""
        ids = list(dict.fromkeys(call.lead_id.ids + call.candidate_lead_ids.ids))
        leads = self.env["crm.lead"].browse(ids).exists()._filtered_access("read")
        cards = []
        for lead in leads[:CARD_LEADS]:
            if not lead.active or lead.stage_id.is_won:
                continue
            cards.append(
                {
                    "id": lead.id,
                    "name": lead.name or "",
                    "type": lead.type,
                    "stage": lead.stage_id.name or "",
                    "expected_revenue": format_amount(
                        self.env, lead.expected_revenue, lead.company_currency
                    )
                    if lead.expected_revenue
                    else "",
                    "salesperson": lead.user_id.name or "",
                }
            )
        return cards

    @api.model
    def _vpbx_card_calls(self, call):
        keys = call._vpbx_number_keys()
        if not keys:
            return []
        calls = self.env["vpbx.call"].search(
            [
                ("id", "!=", call.id),
                "|",
                ("customer_number_normalized", "in", keys),
                ("customer_number_alt_key", "in", keys),
            ],
            limit=CARD_CALLS,
        )
        status = dict(self.env["vpbx.call"]._fields["status"]._description_selection(self.env))
        return [
            {
                "id": other.id,
                "status": other.status,
                "status_label": status.get(other.status, other.status),
                "agent": other.sudo()._vpbx_agent_label(),
                "start_time": fields.Datetime.to_string(other.start_time),
            }
            for other in calls
        ]

    @api.model
    def vpbx_live_recent(self):
        """The user's calls of the day, newest first, for the systray."""
        tz = pytz.timezone(self.env.user.tz or "UTC")
        today = datetime.now(tz).date()
        start = tz.localize(datetime.combine(today, time.min)).astimezone(pytz.utc)
        start = start.replace(tzinfo=None)
        calls = self.env["vpbx.call"].search(
            [
                ("user_id", "=", self.env.uid),
                ("start_time", ">=", start),
                ("start_time", "<", start + timedelta(days=1)),
            ],
            limit=RECENT_CALLS,
        )
        status = dict(self.env["vpbx.call"]._fields["status"]._description_selection(self.env))
        return [
            {
                "id": call.id,
                "number_display": call.display_name,
                "partner": call.partner_id.display_name or "",
                "status_label": status.get(call.status, call.status),
                "start_time": fields.Datetime.to_string(call.start_time),
            }
            for call in calls
        ]

    @api.model
    def _vpbx_card_outcome(self, call):
        """The outcome part of the card: the agent who took the call records what came of it
        from the pop-up, during the call or once it ended."""
        mine = call.user_id.id == self.env.uid and call.status in ("in_progress", "answered")
        outcomes = self.env["vpbx.call.outcome"].search([]) if mine else []
        return {
            "can_record_outcome": bool(mine),
            "outcome_id": call.outcome_id.id or False,
            "outcomes": [{"id": outcome.id, "name": outcome.name} for outcome in outcomes],
        }

    @api.model
    def vpbx_live_set_outcome(self, call_id, outcome_id, note=False):
        """The pop-up's Save: the outcome of a call that rang for the user, under the call's
        own rule (the user's own call; see vpbx.call.vpbx_set_outcome)."""
        call = self._vpbx_live_call(call_id)
        return call.with_env(self.env).vpbx_set_outcome(outcome_id, note)

    @api.model
    def vpbx_live_call_back_later(self, call_id):
        """A 'Call back' activity for the user on the contact (else on the call)."""
        call = self._vpbx_live_call(call_id)
        partner = self._vpbx_readable(call.partner_id.ids)
        target = partner.sudo() or call
        label = format_display(call.customer_number, call._vpbx_region())
        activity = target.activity_schedule(
            CALLBACK_ACTIVITY,
            date_deadline=fields.Date.context_today(self),
            summary=self.env._("Call back %(number)s", number=label),
            user_id=self.env.uid,
        )
        return activity.id
