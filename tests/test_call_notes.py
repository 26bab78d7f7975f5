"""A call's chatter note is written by one INSERT (models/call_notes.py): the row is the one
``mail.message.create`` writes for the same values, column for column, and the chatter reads
it as one of its own."""

import random
from unittest.mock import patch

from markupsafe import Markup

from odoo.tests import TransactionCase, tagged

from ..models import call_notes

#: Columns that differ between two creates by design
OWN = {"id", "message_id", "date", "create_date", "write_date"}


@tagged("post_install", "-at_install")
class TestCallNotes(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partner = cls.env["res.partner"].create({"name": "Note target"})
        cls.lead = cls.env["crm.lead"].create({"name": "Note lead"})

    def values(self, model, res_id, body):
        # what a call's note is made of (no call: the superuser's partner is its author)
        return self.env["vpbx.call"]._vpbx_note_values(model, res_id, body)

    def rows(self, ids):
        self.env.flush_all()
        self.env.cr.execute("SELECT * FROM mail_message WHERE id = ANY(%s) ORDER BY id", [ids])
        names = [column.name for column in self.env.cr.description]
        return [dict(zip(names, row, strict=True)) for row in self.env.cr.fetchall()]

    def test_same_row_as_the_orm(self):
        bodies = [
            Markup("<p>%s</p>") % "Inbound call, answered, duration 1:05",
            # stored without the sanitizer (STABLE_BODY), and the PBX's quotes, which it rewrites
            Markup("<p>%s</p>") % "Cuộc gọi đến, trả lời, nhân viên Nguyễn Văn A & <B>"
            + Markup(
                '<p><a class="o_vpbx_recording" href="/vpbx/call/7/recording" target="_blank"'
                ' rel="noopener noreferrer">Ghi âm</a></p>'
            ),
            Markup("<p>%s</p>") % 'agent O\'Neil "Bob"\xa0\x01',
            # the PBX's text, escaped by the caller; and what the sanitizer would strip
            Markup("<p>%s</p>") % "<script>alert(1)</script> Nguyễn Văn A"
            + Markup(
                '<p onclick="x()"><a href="/vpbx/call/1/recording" target="_blank"'
                ' rel="noopener noreferrer">Recording</a></p>'
            ),
        ]
        values_list = [
            self.values(model, res_id, body)
            for model, res_id in (("res.partner", self.partner.id), ("crm.lead", self.lead.id))
            for body in bodies
        ]
        orm = self.env["res.partner"].sudo()._message_create([dict(v) for v in values_list])
        sql = call_notes.insert_notes(self.env, [dict(v) for v in values_list])
        self.assertEqual(len(sql), len(values_list))
        orm_rows, sql_rows = self.rows(orm.ids), self.rows(sql)
        for orm_row, sql_row in zip(orm_rows, sql_rows, strict=True):
            self.assertEqual(
                {k: v for k, v in sql_row.items() if k not in OWN},
                {k: v for k, v in orm_row.items() if k not in OWN},
            )
            self.assertTrue(sql_row["date"] and sql_row["create_date"] and sql_row["write_date"])
            # a Message-Id of its own, of the shape the ORM gives a document's message
            self.assertRegex(
                sql_row["message_id"], r"^<[\d.]+-openerp-\d+-(res\.partner|crm\.lead)@"
            )
        self.assertNotIn("onclick", sql_rows[3]["body"])
        self.assertNotIn("<script>", sql_rows[3]["body"])
        self.assertEqual(len({row["message_id"] for row in sql_rows + orm_rows}), 16)

    def test_stable_bodies_are_what_the_sanitizer_returns(self):
        """A body STABLE_BODY lets through unsanitized is one the sanitizer returns unchanged:
        a call's text in any characters (Vietnamese, symbols, the PBX's markup escaped),
        after an escaped paragraph or before a recording link. Deterministic samples."""
        field = self.env["mail.message"]._fields["body"]
        Message = self.env["mail.message"]
        rng = random.Random(18)
        alphabet = (
            [chr(code) for code in range(0x20, 0x250)]
            + [chr(rng.randrange(0x250, 0x10000)) for _ in range(600)]
            + list("\t\n\r\x00\x01\x0b\x7f\x85\xa0\xad\u200b\u2028\ufeff\ufffe\uffff🙂ệẫ")
        )
        stable = 0
        for index in range(1500):
            texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14))) for _ in "ab"]
            body = Markup("<p>%s</p>") % texts[0]
            if index % 3 == 1:
                body += Markup("<p>%s</p>") % texts[1]
            elif index % 3 == 2:
                body += Markup(
                    '<p><a class="o_vpbx_recording" href="/vpbx/call/%s/recording"'
                    ' target="_blank" rel="noopener noreferrer">%s</a></p>'
                ) % (index, texts[1])
            if call_notes.STABLE_BODY.fullmatch(body):
                stable += 1
                self.assertEqual(str(field.convert_to_column(body, Message)), str(body))
        self.assertGreater(stable, 300, "most samples take the short way")
        for rewritten in ("O'Neil", 'say "hi"', "a\xa0b", "tab\rcr", "x\x01", "\ufffe", "🙂"):
            self.assertIsNone(call_notes.STABLE_BODY.fullmatch(Markup("<p>%s</p>") % rewritten))
        # markup the caller did not build stays for the sanitizer
        for other in ('<p onclick="x()">a</p>', "<p>a</p><script>b</script>", "<div>a</div>"):
            self.assertIsNone(call_notes.STABLE_BODY.fullmatch(Markup(other)))

    def test_a_call_note_is_not_sanitized_again(self):
        field = type(self.env["mail.message"]._fields["body"])
        bodies = [Markup("<p>%s</p>") % "Inbound call, answered, agent Trần <Thị>", "<p>plain</p>"]
        with patch.object(
            field, "convert_to_column", autospec=True, side_effect=field.convert_to_column
        ) as convert:
            call_notes.insert_notes(
                self.env, [self.values("res.partner", self.partner.id, body) for body in bodies]
            )
        self.assertEqual(convert.call_count, 1, "only the body that is not a call's Markup")

    def test_chatter_reads_it(self):
        before = self.partner.message_ids  # in the cache: the insert must clear it
        [note_id] = call_notes.insert_notes(
            self.env, [self.values("res.partner", self.partner.id, Markup("<p>Ring</p>"))]
        )
        self.assertNotIn(note_id, before.ids)
        self.assertIn(note_id, self.partner.message_ids.ids)
        note = self.env["mail.message"].browse(note_id)
        self.assertEqual(note.subtype_id, self.env.ref("mail.mt_note"))
        self.assertEqual(str(note.body), "<p>Ring</p>")

    def test_refuses_what_a_note_cannot_hold(self):
        with self.assertRaises(ValueError):
            call_notes.insert_notes(
                self.env,
                [{**self.values("res.partner", self.partner.id, "x"), "partner_ids": [1]}],
            )
        with self.assertRaises(ValueError):
            call_notes.insert_notes(
                self.env,
                [{**self.values("res.partner", self.partner.id, "x"), "reply_to": "a@b.c"}],
            )
        self.assertEqual(call_notes.insert_notes(self.env, []), [])
