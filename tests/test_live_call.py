"""Live calls: who is told that a call rings, who took it, that it ended (over the bus, after a
real webhook POST), what the pop-up may read, and bad live events."""

import json
import uuid

from markupsafe import Markup

from odoo import Command
from odoo.addons.bus.tests.common import WebsocketCase
from odoo.addons.sentech_vpbx.services.call_mapping import parse_record
from odoo.addons.sentech_vpbx.services.live_call import NOTIFICATION_TYPE, live_change
from odoo.addons.sentech_vpbx.services.transaction import in_new_transaction
from odoo.addons.sentech_vpbx.tools.vpbx_simulator import VpbxSimulator
from odoo.sql_db import db_connect
from odoo.tests import BaseCase, TransactionCase, new_test_user, tagged
from odoo.tools import mute_logger

from ..const import GROUP_USER
from .common import (
    VpbxWebhookCommon,
    at_once,
    call_payload,
    live_payload,
    make_pbx,
    real_env,
    remove_committed_company,
    statements,
)
from .rpc_common import RpcAsUserMixin, password

NUMBER = "0938246810"


def _user(env, login, company=None, groups=f"base.group_user,{GROUP_USER}"):
    company = company or env.company
    return new_test_user(
        env,
        login=login,
        password=password(login),
        groups=groups,
        company_id=company.id,
        company_ids=[Command.set(company.ids)],
        tz="Asia/Ho_Chi_Minh",
    )


def _employee(env, name, user, pbx, extension):
    return (
        env["hr.employee"]
        .with_company(pbx.company_id)
        .create(
            {
                "name": name,
                "user_id": user.id if user else False,
                "company_id": pbx.company_id.id,
                "vpbx_pbx_id": pbx.id,
                "vpbx_extension": extension,
            }
        )
    )


@tagged("post_install", "-at_install")
class TestLiveChangeRules(BaseCase):
    """The plain rules of services.live_call: stages only move forward, one send per change."""

    def test_stages(self):
        first = live_change(None, (), "ringing", ("101",))
        self.assertEqual((first.kind, first.extensions), ("ringing", ("101",)))
        self.assertIsNone(live_change("ringing", ("101",), "ringing", ("101",)), "a re-send")
        more = live_change("ringing", ("101",), "ringing", ("101", "102"))
        self.assertEqual((more.kind, more.extensions), ("ringing", ("102",)), "new phones only")
        answered = live_change("ringing", ("101", "102"), "answered", ("102",))
        self.assertEqual((answered.kind, answered.extensions), ("answered", ("101", "102")))
        self.assertIsNone(live_change("answered", ("101",), "ringing", ("101",)), "late ringing")
        self.assertIsNone(live_change("closed", ("101",), "answered", ()), "after the end")
        self.assertIsNone(live_change(None, (), "closed", ("101",)), "nobody was told")
        closed = live_change("answered", ("101",), "closed", ())
        self.assertEqual((closed.kind, closed.extensions), ("closed", ("101",)))
        self.assertIsNone(live_change(None, (), None, ("101",)), "a click-to-call being placed")


class LiveCallCommon(RpcAsUserMixin, VpbxWebhookCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.other_pbx = make_pbx(env, name="Other branch")
        cls.company_b = env["res.company"].create(
            {"name": "Live Co B", "country_id": env.ref("base.vn").id}
        )
        cls.pbx_b = make_pbx(env, company=cls.company_b, name="Company B PBX")
        cls.agent = _user(
            env, "live_agent", groups=f"base.group_user,base.group_partner_manager,{GROUP_USER}"
        )
        cls.colleague = _user(env, "live_colleague")
        cls.other_account = _user(env, "live_other_account")
        cls.other_company = _user(env, "live_other_company", company=cls.company_b)
        cls.restricted = _user(env, "live_restricted")
        cls.plain = _user(env, "live_plain", groups="base.group_user")
        cls.agent_employee = _employee(env, "Live Agent", cls.agent, cls.pbx, "101")
        cls.colleague_employee = _employee(env, "Live Colleague", cls.colleague, cls.pbx, "102")
        _employee(env, "Other Account", cls.other_account, cls.other_pbx, "101")
        _employee(env, "Other Company", cls.other_company, cls.pbx_b, "101")
        _employee(env, "Restricted", cls.restricted, cls.pbx, "103")
        _employee(env, "No VPBX group", cls.plain, cls.pbx, "104")
        cls.tag = env["res.partner.category"].create({"name": "VIP"})
        cls.partner = env["res.partner"].create(
            {
                "name": "Chị Lan",
                "mobile": "0938 246 810",
                "user_id": cls.agent.id,
                "category_id": [Command.set(cls.tag.ids)],
                "company_id": cls.company.id,
            }
        )
        # a real record rule hides this contact from the restricted user only
        group = env["res.groups"].create({"name": "Live: no VIP contacts"})
        cls.restricted.groups_id = [Command.link(group.id)]
        env["ir.rule"].create(
            {
                "name": "Live test: VIP hidden",
                "model_id": env.ref("base.model_res_partner").id,
                "groups": [Command.set(group.ids)],
                "domain_force": f"[('id', '!=', {cls.partner.id})]",
            }
        )

    def setUp(self):
        super().setUp()
        self.env.cr.execute("SELECT COALESCE(MAX(id), 0) FROM bus_bus")
        self.bus_mark = self.env.cr.fetchone()[0]

    def sent(self):
        """[(user, call id, stage)] of the live notifications sent since the test began."""
        self.env.cr.precommit.run()
        self.env["bus.bus"].flush_model()
        self.env.cr.execute(
            "SELECT channel, message FROM bus_bus WHERE id > %s ORDER BY id", [self.bus_mark]
        )
        rows = self.env.cr.fetchall()
        users = self.env["res.users"].search([("share", "=", False)])
        by_partner = {user.partner_id.id: user for user in users}
        found = []
        for channel_json, message_json in rows:
            message = json.loads(message_json)
            if message["type"] != NOTIFICATION_TYPE:
                continue
            channel = json.loads(channel_json)
            self.assertEqual(channel[1], "res.partner")
            payload = message["payload"]
            self.assertEqual(set(payload), {"call_id", "stage"}, "ids only")
            found.append((by_partner[channel[2]], payload["call_id"], payload["stage"]))
        return found

    def post_ok(self, payload, token=None):
        response = self.post(payload, token=token)
        self.assertEqual(response.status_code, 200, response.text)
        return response.json()


@tagged("post_install", "-at_install")
class TestLiveCallNotify(LiveCallCommon):
    def test_ringing_notifies_own_extension_only(self):
        self.post_ok(live_payload("LIVE-1", NUMBER, sip_user="101"))
        call = self.calls("LIVE-1")
        self.assertEqual(self.sent(), [(self.agent, call.id, "ringing")])
        self.assertFalse(call.message_ids.filtered(lambda m: m.message_type == "comment"))
        self.assertFalse(call.activity_ids, "a live event makes no activity")

    def test_a_batch_pushes_with_one_lookup_and_one_insert(self):
        """A batch of the queue gathers its calls' pushes: the recipients of all of them in one
        query, the bus rows in one INSERT, each user told of the calls of their own extension
        only (104: no VPBX group, 999: nobody's)."""
        settings = self.pbx._vpbx_call_settings()
        extensions = ("101", "102", "101", "104", "999", "102")
        records = [
            parse_record(
                live_payload(f"LIVE-BATCH-{index}", f"09382468{index:02d}", sip_user=extension),
                settings.mapping,
            )
            for index, extension in enumerate(extensions)
        ]
        Call = self.Call.with_context(vpbx_batch_notes=True)
        with (
            statements("JOIN res_groups_users_rel g") as lookups,
            statements("INSERT INTO bus_bus") as inserts,
        ):
            calls = Call._vpbx_upsert_records(settings, records)
            self.assertEqual((len(lookups), len(inserts)), (0, 0), "not yet: at the commit")
            self.env.cr.precommit.run()
        self.assertEqual((len(lookups), len(inserts)), (1, 1))
        by_id = {call.vpbx_call_id: call.id for call in calls}
        expected = [
            ({"101": self.agent, "102": self.colleague}[extension], by_id[f"LIVE-BATCH-{i}"])
            for i, extension in enumerate(extensions)
            if extension in ("101", "102")
        ]
        self.assertEqual(
            [(user, call_id) for user, call_id, stage in self.sent() if stage == "ringing"],
            expected,
        )

    def test_other_account_and_other_company(self):
        self.post_ok(
            live_payload("LIVE-B", NUMBER, sip_user="101"), token=self.pbx_b.sudo().webhook_token
        )
        call = self.Call.search([("vpbx_call_id", "=", "LIVE-B")])
        self.assertEqual(self.sent(), [(self.other_company, call.id, "ringing")])

    def test_ring_group_answered_elsewhere_then_closed(self):
        ring = live_payload(
            "LIVE-G",
            NUMBER,
            sip_user=None,
            users_status=[{"extension": "101"}, {"extension": "102"}],
        )
        self.post_ok(ring)
        call = self.calls("LIVE-G")
        self.assertEqual(
            sorted(self.sent(), key=lambda s: s[0].id),
            sorted(
                [(self.agent, call.id, "ringing"), (self.colleague, call.id, "ringing")],
                key=lambda s: s[0].id,
            ),
        )
        for _index in range(3):  # re-sends stack nothing
            self.post_ok(ring)
        self.assertEqual(len(self.sent()), 2)
        self.post_ok(live_payload("LIVE-G", NUMBER, state="answered", sip_user="102"))
        answered = [s for s in self.sent() if s[2] == "answered"]
        self.assertEqual({s[0] for s in answered}, {self.agent, self.colleague})
        card = self.rpc(self.agent, "vpbx.live.call", "vpbx_live_card", [call.id])
        self.assertEqual(card["answered_by"], "Live Colleague")
        self.assertFalse(card["answered_by_me"])
        card = self.rpc(self.colleague, "vpbx.live.call", "vpbx_live_card", [call.id])
        self.assertTrue(card["answered_by_me"])
        self.post_ok(live_payload("LIVE-G", NUMBER, state="hangup", sip_user="102"))
        self.post_ok(call_payload("LIVE-G", NUMBER, sip_user="102"))  # the final record
        closed = [s for s in self.sent() if s[2] == "closed"]
        self.assertEqual({s[0] for s in closed}, {self.agent, self.colleague}, "closed once each")
        self.assertEqual(len(closed), 2)
        self.assertEqual(call.status, "answered")
        self.assertEqual(len(self.notes(self.partner)), 1, "the final record's one note")

    def test_several_extensions_in_one_field(self):
        for call_id, value in (("LIVE-L1", "101,102"), ("LIVE-L2", ["101", "102"])):
            self.post_ok(live_payload(call_id, NUMBER, sip_user=None, extension=value))
            call = self.calls(call_id)
            self.assertEqual(
                {s[0] for s in self.sent() if s[1] == call.id}, {self.agent, self.colleague}
            )
            self.assertFalse(call.extension, "nobody took it yet")

    def test_out_of_order_and_late(self):
        # hangup before ringing: nobody is shown a call that is over
        self.post_ok(live_payload("LIVE-O", NUMBER, state="hangup", disposition="cancelled"))
        self.post_ok(live_payload("LIVE-O", NUMBER, sip_user="101"))
        call = self.calls("LIVE-O")
        self.assertEqual(self.sent(), [])
        self.assertTrue(call.is_final)
        self.assertEqual(call.status, "missed")
        # a ringing after the answer never undoes it, nor opens a pop-up again
        self.post_ok(live_payload("LIVE-P", NUMBER, sip_user="101"))
        self.post_ok(live_payload("LIVE-P", NUMBER, state="answered", sip_user="101"))
        self.post_ok(live_payload("LIVE-P", NUMBER, sip_user="101"))
        late = self.calls("LIVE-P")
        self.assertEqual(late.status, "in_progress")
        self.assertEqual([s[2] for s in self.sent()], ["ringing", "answered"])
        # a live event after the final record: nothing
        self.post_ok(call_payload("LIVE-P", NUMBER, sip_user="101"))
        self.post_ok(live_payload("LIVE-P", NUMBER, state="answered", sip_user="101"))
        self.assertEqual([s[2] for s in self.sent()], ["ringing", "answered", "closed"])
        self.assertEqual(late.status, "answered")

    def test_bad_live_events(self):
        cases = (
            ("BAD-NOEXT", {"sip_user": None}),
            ("BAD-NOBODY", {"sip_user": "999"}),
            ("BAD-STATE", {"sip_user": "101", "state": "¿¿garbled??"}),
            ("BAD-EMPTY", {"sip_user": "101", "state": ""}),
            ("BAD-PLAIN", {"sip_user": "104"}),  # an employee who is no VPBX user
        )
        for call_id, fields in cases:
            with self.subTest(call_id=call_id):
                self.post_ok(live_payload(call_id, NUMBER, **fields))
                self.assertTrue(self.calls(call_id), "stored")
        self.assertEqual(self.sent(), [])
        events = self.events().filtered(lambda e: e.vpbx_call_id.startswith("BAD-"))
        self.assertEqual(len(events), len(cases))
        self.assertEqual(set(events.mapped("state")), {"processed"})
        # an unknown token: nothing stored, nobody told
        response = self.post(live_payload("BAD-TOKEN", NUMBER, sip_user="101"), token="nope")
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self.sent(), [])

    def test_thousand_ringing_events_of_one_call(self):
        self.post_ok([live_payload("LIVE-MANY", NUMBER, sip_user="101")] * 1000)
        for _index in range(20):
            self.post_ok(live_payload("LIVE-MANY", NUMBER, sip_user="101"))
        self.assertEqual(len(self.sent()), 1)

    def test_simulator_rings_answers_hangs_up(self):
        """The simulator's ring command (./dev ring): ringing, answered, hangup, record."""
        sim = VpbxSimulator(seed=3)
        sim.add_agent("Live Agent", "agent@example.com", extension="101")
        url = self.base_url() + "/vpbx/webhook/" + self.token
        call_id, statuses = sim.ring(url, "101", NUMBER, ring_sec=0, talk_sec=0)
        self.env.invalidate_all()
        self.assertEqual(statuses, [200] * 4)
        call = self.calls(call_id)
        self.assertEqual((call.status, call.is_final), ("answered", True))
        self.assertEqual(call.partner_id, self.partner)
        self.assertEqual(
            self.sent(),
            [(self.agent, call.id, stage) for stage in ("ringing", "answered", "closed")],
        )
        self.assertEqual(len(self.notes(self.partner)), 1)


@tagged("post_install", "-at_install")
class TestLiveCallCard(LiveCallCommon):
    def test_outcome_from_the_popup(self):
        """The agent who took the call records its outcome from the pop-up; a colleague it rang
        for too may not (nor can they see the choice)."""
        self.post_ok(live_payload("CARD-OUT", NUMBER, sip_user="101", extension=["101", "102"]))
        call = self.calls("CARD-OUT")
        ringing = self.rpc(self.agent, "vpbx.live.call", "vpbx_live_card", [call.id])
        self.assertFalse(ringing["can_record_outcome"], "nobody took it yet")
        self.post_ok(
            live_payload(
                "CARD-OUT", NUMBER, state="answered", sip_user="101", time_answer_start=1741575605
            )
        )
        card = self.rpc(self.agent, "vpbx.live.call", "vpbx_live_card", [call.id])
        self.assertTrue(card["can_record_outcome"])
        interested = self.env.ref("sentech_vpbx.outcome_interested")
        self.assertIn({"id": interested.id, "name": "Interested"}, card["outcomes"])
        colleague = self.rpc(self.colleague, "vpbx.live.call", "vpbx_live_card", [call.id])
        self.assertFalse(colleague["can_record_outcome"])
        self.assertEqual(colleague["outcomes"], [])
        self.assertDenied(
            self.colleague, "vpbx.live.call", "vpbx_live_set_outcome", [call.id, interested.id]
        )
        self.rpc(
            self.agent, "vpbx.live.call", "vpbx_live_set_outcome", [call.id, interested.id, "ok"]
        )
        self.env.invalidate_all()
        self.assertEqual(call.outcome_id, interested)
        self.assertEqual(call.outcome_note, "ok")
        self.assertEqual(call.outcome_user_id, self.agent)

    def test_card_of_a_known_contact(self):
        self.env["mail.activity"].create(
            {
                "res_model_id": self.env["ir.model"]._get_id("res.partner"),
                "res_id": self.partner.id,
                "summary": "Gửi báo giá",
                "user_id": self.agent.id,
            }
        )
        self.post_ok(call_payload("CARD-OLD", NUMBER, sip_user="102", start=1741575600))
        self.partner.message_post(body=Markup("<p>Khách <b>quen</b></p>"), message_type="comment")
        self.post_ok(live_payload("CARD-1", NUMBER, sip_user="101"))
        call = self.calls("CARD-1")
        card = self.rpc(self.agent, "vpbx.live.call", "vpbx_live_card", [call.id])
        self.assertEqual(card["number_display"], "0938 246 810")
        self.assertEqual(card["stage"], "ringing")
        self.assertEqual(card["partner"]["name"], "Chị Lan")
        self.assertEqual(card["partner"]["salesperson"], self.agent.name)
        self.assertEqual([t["name"] for t in card["partner"]["tags"]], ["VIP"])
        self.assertEqual([a["summary"] for a in card["partner"]["activities"]], ["Gửi báo giá"])
        self.assertIn("quen", card["partner"]["last_note"])
        self.assertNotIn("<b>", card["partner"]["last_note"])
        self.assertEqual(card["candidates"], [])
        self.assertEqual(len(card["last_calls"]), 0, "the old call is the colleague's")
        # call back later: an activity of the agent on the contact
        activity_id = self.rpc(self.agent, "vpbx.live.call", "vpbx_live_call_back_later", [call.id])
        activity = self.env["mail.activity"].browse(activity_id)
        self.assertEqual((activity.res_model, activity.res_id), ("res.partner", self.partner.id))
        self.assertEqual(activity.user_id, self.agent)

    def test_user_without_access_to_the_contact(self):
        self.post_ok(live_payload("CARD-R", NUMBER, sip_user="103"))
        call = self.calls("CARD-R")
        self.assertEqual(call.partner_id, self.partner)
        self.assertEqual(self.sent(), [(self.restricted, call.id, "ringing")])
        card = self.rpc(self.restricted, "vpbx.live.call", "vpbx_live_card", [call.id])
        self.assertFalse(card["partner"], "the contact stays hidden")
        self.assertNotIn("Chị Lan", json.dumps(card, ensure_ascii=False))
        self.assertTrue(card["has_hidden_contact"])
        self.assertEqual(card["number_display"], "0938 246 810", "the phone shows it anyway")

    def test_card_only_for_those_it_rang_for(self):
        self.post_ok(live_payload("CARD-2", NUMBER, sip_user="101"))
        call = self.calls("CARD-2")
        for user in (self.colleague, self.other_account, self.other_company):
            self.assertDenied(user, "vpbx.live.call", "vpbx_live_card", [call.id])

    def test_ambiguous_and_unknown_numbers(self):
        twin = self.env["res.partner"].create({"name": "Anh Minh", "phone": NUMBER})
        self.post_ok(live_payload("CARD-A", NUMBER, sip_user="101"))
        card = self.rpc(self.agent, "vpbx.live.call", "vpbx_live_card", [self.calls("CARD-A").id])
        self.assertEqual(
            {c["name"] for c in card["candidates"]}, {"Chị Lan", twin.name}, "both candidates"
        )
        self.post_ok(live_payload("CARD-U", "0977111222", sip_user=None, extension="101,102"))
        unknown = self.calls("CARD-U")
        card = self.rpc(self.agent, "vpbx.live.call", "vpbx_live_card", [unknown.id])
        self.assertFalse(card["partner"])
        self.assertFalse(card["has_hidden_contact"])
        self.assertTrue(card["can_create_partner"])
        plain_card = self.rpc(self.colleague, "vpbx.live.call", "vpbx_live_card", [unknown.id])
        self.assertFalse(plain_card["can_create_partner"], "no Contact Creation right")
        # the contact created from the pop-up picks up the ringing call through the matching
        self.authenticate(self.agent.login, password(self.agent.login))
        self.make_jsonrpc_request(
            "/web/dataset/call_kw/res.partner/create",
            {
                "model": "res.partner",
                "method": "create",
                "args": [{"name": "Khách mới", "phone": card["number_display"]}],
                "kwargs": {},
            },
        )
        self.env.invalidate_all()
        self.assertEqual(unknown.partner_id.name, "Khách mới")


@tagged("post_install", "-at_install")
class TestLiveCallWebsocket(LiveCallCommon, WebsocketCase):
    """The agent's browser, a real websocket, receives the call after a real webhook POST."""

    def test_agent_websocket_receives_ringing(self):
        session = self.authenticate(self.agent.login, password(self.agent.login))
        websocket = self.websocket_connect(cookie=f"session_id={session.sid}")
        self.subscribe(websocket, [], self.env["bus.bus"]._bus_last_id())
        self.post_ok(live_payload("WS-1", NUMBER, sip_user="101"))
        call = self.calls("WS-1")
        self.trigger_notification_dispatching([self.agent.partner_id])
        notifications = json.loads(websocket.recv())
        live = [n["message"] for n in notifications if n["message"]["type"] == NOTIFICATION_TYPE]
        self.assertEqual(
            live,
            [{"type": NOTIFICATION_TYPE, "payload": {"call_id": call.id, "stage": "ringing"}}],
        )


@tagged("post_install", "-at_install")
class TestLiveCallRace(TransactionCase):
    """Four deliveries of one state on four real connections at once: one notification.

    Other connections do not see the test's transaction: the company, its account, the agent
    and the employee are committed on a connection of their own and removed at the end.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dbname = cls.env.cr.dbname
        with db_connect(cls.dbname).cursor() as cr:
            env = real_env(cls.registry, cr)
            company = env["res.company"].create(
                {"name": f"Live race {uuid.uuid4().hex[:8]}", "country_id": env.ref("base.vn").id}
            )
            pbx = make_pbx(env, company)
            agent = _user(env, f"live_race_{uuid.uuid4().hex[:8]}", company=company)
            employee = _employee(env, "Race Agent", agent, pbx, "101")
            cr.commit()  # pylint: disable=invalid-commit
            cls.company_id, cls.pbx_id = company.id, pbx.id
            cls.agent_id, cls.partner_id = agent.id, agent.partner_id.id
            cls.employee_id = employee.id
        cls.addClassCleanup(cls._remove_fixture)

    @classmethod
    def _remove_fixture(cls):
        with db_connect(cls.dbname).cursor() as cr:
            env = real_env(cls.registry, cr)
            env["vpbx.call"].search([("pbx_id", "=", cls.pbx_id)]).unlink()
            env["hr.employee"].browse(cls.employee_id).unlink()
            main = env.ref("base.main_company")
            env["res.users"].browse(cls.agent_id).write(
                {"active": False, "company_id": main.id, "company_ids": [Command.set(main.ids)]}
            )
            env["vpbx.pbx"].browse(cls.pbx_id).unlink()
            cr.commit()  # pylint: disable=invalid-commit
            with mute_logger("odoo.sql_db"):  # a company its data keeps is archived instead
                remove_committed_company(env, cls.company_id)

    def _upsert_committed(self, cr, payload):
        env = real_env(self.registry, cr)
        settings = env["vpbx.pbx"].browse(self.pbx_id)._vpbx_call_settings()
        record = parse_record(payload, settings.mapping)
        Call = env["vpbx.call"]
        return in_new_transaction(env, lambda: Call._vpbx_upsert_records(settings, [record]).ids)

    def _stages(self, call_id):
        with db_connect(self.dbname).cursor() as cr:
            cr.execute(
                "SELECT message FROM bus_bus WHERE channel = %s ORDER BY id",
                [json.dumps([self.dbname, "res.partner", self.partner_id]).replace(", ", ",")],
            )
            messages = [json.loads(row[0]) for row in cr.fetchall()]
        return [
            m["payload"]["stage"]
            for m in messages
            if m["type"] == NOTIFICATION_TYPE and m["payload"]["call_id"] == call_id
        ]

    def _race(self, payload):
        results, errors = at_once(self.dbname, lambda cr: self._upsert_committed(cr, payload))
        self.assertFalse(errors)
        self.assertEqual(len({tuple(ids) for ids in results}), 1, "one call")
        return results[0][0]

    @mute_logger("odoo.sql_db")  # the expected unique violations are logged as bad queries
    def test_four_connections_one_notification_per_stage(self):
        call_id = f"LIVE-RACE-{uuid.uuid4().hex}"
        call = self._race(live_payload(call_id, NUMBER, sip_user="101"))
        self.assertEqual(self._stages(call), ["ringing"])
        self._race(live_payload(call_id, NUMBER, state="answered", sip_user="101"))
        self._race(call_payload(call_id, NUMBER, sip_user="101"))
        self.assertEqual(self._stages(call), ["ringing", "answered", "closed"])
