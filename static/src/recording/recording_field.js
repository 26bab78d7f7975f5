/**
 * The recording of a call as a player: field widget "vpbx_recording" on vpbx.call's
 * recording_url (form and lists), and a player under the "Recording" link of the call's note in
 * a contact's chatter.
 *
 * Players play Odoo's route /vpbx/call/<id>/recording (computed by the server as
 * vpbx_recording_src, only for an http(s) link), which checks that the user may read the call
 * before redirecting to the PBX. Any other link from the PBX is shown as text.
 */
import { Component } from "@odoo/owl";
import { Message } from "@mail/core/common/message";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { patch } from "@web/core/utils/patch";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

/** The only source a player is given: the access-checked route of one call. */
const RECORDING_ROUTE = /^\/vpbx\/call\/\d+\/recording$/;

export function isRecordingRoute(src) {
    return typeof src === "string" && RECORDING_ROUTE.test(src);
}

export class VpbxRecordingField extends Component {
    static template = "sentech_vpbx.RecordingField";
    static props = { ...standardFieldProps };

    get src() {
        const src = this.props.record.data.vpbx_recording_src;
        return isRecordingRoute(src) ? src : null;
    }

    get text() {
        return this.props.record.data[this.props.name] || "";
    }
}

export const vpbxRecordingField = {
    component: VpbxRecordingField,
    displayName: _t("Recording player"),
    supportedTypes: ["char"],
    fieldDependencies: [{ name: "vpbx_recording_src", type: "char" }],
};

registry.category("fields").add("vpbx_recording", vpbxRecordingField);

patch(Message.prototype, {
    prepareMessageBody(bodyEl) {
        super.prepareMessageBody(...arguments);
        if (!bodyEl) {
            return;
        }
        for (const link of bodyEl.querySelectorAll("a.o_vpbx_recording")) {
            const src = link.getAttribute("href");
            const next = link.nextElementSibling;
            if (!isRecordingRoute(src) || next?.classList.contains("o_vpbx_recording_player")) {
                continue;
            }
            const audio = document.createElement("audio");
            audio.controls = true;
            audio.preload = "none";
            audio.className = "o_vpbx_recording_player d-block mt-1";
            audio.src = src;
            link.after(audio);
        }
    },
});
