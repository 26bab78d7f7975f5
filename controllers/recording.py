"""GET /vpbx/call/<id>/recording: the call's recording, for users who may read the call.

The players (call form and list, the note in the contact's chatter) point here, never at the
PBX: a user who may not read the call (another salesperson's, another company's) gets a 404, as
for a call that does not exist, and never learns the PBX's link. A user who may gets the copy
archived in Odoo's filestore when there is one (``vpbx.recording``), with range requests so
that seeking works; otherwise a redirect to the PBX's recording, only when it is an http(s) URL
(``services.recording_url``), which the browser then streams from the PBX.
"""

from odoo import http
from odoo.exceptions import AccessError, MissingError
from odoo.http import request

from ..services.recording_url import playable_url


class VpbxRecordingController(http.Controller):
    @http.route(
        "/vpbx/call/<int:call_id>/recording",
        type="http",
        auth="user",
        methods=["GET", "HEAD"],
        readonly=True,
    )
    def vpbx_call_recording(self, call_id):
        call = request.env["vpbx.call"].browse(call_id)
        try:
            call.check_access("read")
            url = playable_url(call.recording_url)
        except (AccessError, MissingError):
            raise request.not_found() from None
        attachment = call._vpbx_archived_attachment()
        if attachment:
            stream = request.env["ir.binary"]._get_stream_from(attachment, "raw")
            response = stream.get_response()  # conditional: Range, If-None-Match
            response.headers["Cache-Control"] = "private, no-store"
            return response
        if not url:
            raise request.not_found()
        response = request.redirect(url, code=302, local=False)
        # the PBX's link is the user's alone: no shared cache, no referrer sent to the PBX
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response
