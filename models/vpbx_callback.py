"""The *Call back* of a number on a day: one row per (PBX account, number, day).

It makes "one open *Call back* activity per number and day" hold when missed calls from one
number arrive at the same moment on several workers or servers. Searching today's activity
cannot: under REPEATABLE READ two transactions each see no activity and each create one. Every
missed call instead upserts this row (``_vpbx_count_missed``), which locks it; PostgreSQL
refuses with a serialization failure the transaction whose snapshot does not show a row another
transaction wrote meanwhile, and the caller runs again in a new transaction
(``services.transaction.in_new_transaction``), where it finds the activity made by the other.
"""

from odoo import api, fields, models


class VpbxCallback(models.Model):
    _name = "vpbx.callback"
    _description = "VPBX Call Back of a Number on a Day"
    _rec_name = "number"
    _order = "day desc, id desc"
    _log_access = False  # written with one SQL upsert per missed call

    pbx_id = fields.Many2one(
        "vpbx.pbx", string="PBX Account", required=True, ondelete="cascade", readonly=True
    )
    number = fields.Char(
        string="Number", required=True, readonly=True, help="The caller's number key."
    )
    day = fields.Date(string="Day", required=True, readonly=True)
    activity_id = fields.Many2one(
        "mail.activity", string="Call Back Activity", ondelete="set null", readonly=True
    )
    missed_count = fields.Integer(
        string="Missed Calls",
        readonly=True,
        help="Missed calls from the number that day since its Call back activity was made.",
    )

    _sql_constraints = [
        (
            "number_day_uniq",
            "unique(pbx_id, number, day)",
            "A number has one call-back row per PBX account and day.",
        ),
    ]

    @api.model
    def _vpbx_count_missed(self, pbx_id, number, day):
        """Count one more missed call of `number` on `day`, locking its row until the commit.

        :return: ``(row id, activity id or None, missed calls)``; the count restarts at 1 when
            the activity is gone (done or deleted): the caller then makes a new one.
        """
        self.env.cr.execute(
            """
            INSERT INTO vpbx_callback AS cb (pbx_id, number, day, missed_count)
                 VALUES (%(pbx)s, %(number)s, %(day)s, 1)
            ON CONFLICT (pbx_id, number, day) DO UPDATE
                    SET missed_count = CASE WHEN cb.activity_id IS NULL THEN 1
                                            ELSE cb.missed_count + 1 END
              RETURNING id, activity_id, missed_count
            """,
            {"pbx": pbx_id, "number": number, "day": day},
            # a serialization failure is expected under concurrency, and retried: not logged
            log_exceptions=False,
        )
        return self.env.cr.fetchone()

    @api.model
    def _vpbx_set_activities(self, rows):
        """Link rows to their activities made in one batch: ``[(row id, activity id, missed
        calls)]``, the count being the batch's missed calls (the rows counted them from 1 while
        they had no activity)."""
        self.env.cr.execute(
            """
            UPDATE vpbx_callback cb SET activity_id = v.activity_id, missed_count = v.missed
              FROM (SELECT unnest(%s::int[]) AS id, unnest(%s::int[]) AS activity_id,
                           unnest(%s::int[]) AS missed) v
             WHERE cb.id = v.id
            """,
            [[row[0] for row in rows], [row[1] for row in rows], [row[2] for row in rows]],
        )

    @api.autovacuum
    def _gc_vpbx_callbacks(self):
        """Rows of past days only serve a day that is over: keep a week for the curious."""
        self.env.cr.execute(
            "DELETE FROM vpbx_callback WHERE day < (now() AT TIME ZONE 'UTC')::date - 7"
        )
