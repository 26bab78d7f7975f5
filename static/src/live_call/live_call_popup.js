/**
 * The pop-up of a call ringing on the user's phone: the caller's number written the Vietnamese
 * way, the contact (or the candidates, or Create contact), the caller's open opportunities
 * (or Create lead), earlier calls, the last note, the open activities. Texts from the PBX and the database are shown with t-esc: never markup.
 */
import { Component, useState } from "@odoo/owl";
import {
    deserializeDate,
    deserializeDateTime,
    formatDate,
    formatDateTime,
} from "@web/core/l10n/dates";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";

export class LiveCallPopup extends Component {
    static template = "sentech_vpbx.LiveCallPopup";
    static props = {};

    setup() {
        this.liveCall = useService("sentech_vpbx_live_call");
        this.state = useState(this.liveCall.state);
        this.action = useService("action");
        this.notification = useService("notification");
        this.outcome = useState({ id: "", note: "", saving: false });
    }

    get card() {
        return this.state.card;
    }

    get title() {
        const card = this.card;
        if (card.stage === "answered") {
            return card.answered_by_me
                ? _t("In call")
                : _t("Answered by %(agent)s", { agent: card.answered_by || "?" });
        }
        if (card.stage === "closed") {
            return _t("Call ended");
        }
        return _t("Incoming call");
    }

    /** Server datetimes (UTC) and dates in the user's time zone and language. */
    when(value) {
        return value ? formatDateTime(deserializeDateTime(value)) : "";
    }

    day(value) {
        return value ? formatDate(deserializeDate(value)) : "";
    }

    async openPartner(partnerId) {
        this.liveCall.dismiss(this.card.id);
        await this.action.doAction({
            type: "ir.actions.act_window",
            res_model: "res.partner",
            res_id: partnerId,
            views: [[false, "form"]],
            target: "current",
        });
    }

    async openLead(leadId) {
        this.liveCall.dismiss(this.card.id);
        await this.action.doAction({
            type: "ir.actions.act_window",
            res_model: "crm.lead",
            res_id: leadId,
            views: [[false, "form"]],
            target: "current",
        });
    }

    async createLead() {
        const card = this.card;
        this.liveCall.dismiss(card.id);
        await this.action.doAction(
            {
                type: "ir.actions.act_window",
                res_model: "crm.lead",
                views: [[false, "form"]],
                target: "current",
                context: {
                    default_phone: card.number_display,
                    default_name: _t("Call from %(number)s", { number: card.number_display }),
                    default_contact_name: card.customer_name || "",
                },
            },
            {
                // saved: the ringing call links to the new lead through its number keys
                onClose: () => this.liveCall.refresh(card.id),
            }
        );
    }

    async createPartner() {
        const card = this.card;
        this.liveCall.dismiss(card.id);
        await this.action.doAction(
            {
                type: "ir.actions.act_window",
                res_model: "res.partner",
                views: [[false, "form"]],
                target: "current",
                context: {
                    default_phone: card.number_display,
                    default_name: card.customer_name || "",
                },
            },
            {
                // saved: the ringing call links to the new contact through the matching
                onClose: () => this.liveCall.refresh(card.id),
            }
        );
    }

    async callBackLater() {
        const callId = this.card.id;
        await this.liveCall.callBackLater(callId);
        this.notification.add(_t("A call-back activity is planned for you today."), {
            type: "success",
        });
        this.liveCall.dismiss(callId);
    }

    async saveOutcome() {
        const callId = this.card.id;
        if (!this.outcome.id || this.outcome.saving) {
            return;
        }
        this.outcome.saving = true;
        try {
            await this.liveCall.setOutcome(callId, parseInt(this.outcome.id), this.outcome.note);
        } finally {
            this.outcome.saving = false;
        }
        this.notification.add(_t("The call's outcome is saved."), { type: "success" });
        Object.assign(this.outcome, { id: "", note: "" });
        this.liveCall.dismiss(callId);
    }

    dismiss() {
        this.liveCall.dismiss(this.card.id);
    }
}

registry.category("main_components").add("sentech_vpbx.LiveCallPopup", {
    Component: LiveCallPopup,
});
