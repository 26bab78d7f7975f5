/** The systray entry of live calls: the calls of the day, newest first. */
import { Component, onWillStart, useState } from "@odoo/owl";
import { Dropdown } from "@web/core/dropdown/dropdown";
import { registry } from "@web/core/registry";
import { user } from "@web/core/user";
import { useService } from "@web/core/utils/hooks";

export class LiveCallSystray extends Component {
    static template = "sentech_vpbx.LiveCallSystray";
    static components = { Dropdown };
    static props = {};

    setup() {
        this.liveCall = useService("sentech_vpbx_live_call");
        this.state = useState(this.liveCall.state);
        this.action = useService("action");
        this.isVpbxUser = false;
        onWillStart(async () => {
            this.isVpbxUser = await user.hasGroup("sentech_vpbx.group_vpbx_user");
        });
    }

    onBeforeOpen() {
        return this.liveCall.loadRecent();
    }

    openCall(callId) {
        this.action.doAction({
            type: "ir.actions.act_window",
            res_model: "vpbx.call",
            res_id: callId,
            views: [[false, "form"]],
            target: "current",
        });
    }
}

registry
    .category("systray")
    .add("sentech_vpbx.live_calls", { Component: LiveCallSystray }, { sequence: 25 });
