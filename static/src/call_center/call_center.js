/**
 * VPBX > Reporting > Call center: the manager's figures of the last days (vpbx.call's
 * vpbx_call_center, read under the user's own rights) and the way into the analysis by agent,
 * hotline, hour of day and day.
 */
import { Component, onWillStart, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";

export class CallCenter extends Component {
    static template = "sentech_vpbx.CallCenter";
    static props = ["*"];

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.periods = [7, 30, 90];
        this.state = useState({ days: 30, figures: null });
        onWillStart(() => this.load());
    }

    async load() {
        this.state.figures = await this.orm.call("vpbx.call", "vpbx_call_center", [], {
            days: this.state.days,
        });
    }

    async setDays(days) {
        this.state.days = days;
        await this.load();
    }

    get period() {
        return [
            ["is_final", "=", true],
            ["start_time", ">=", this.state.figures.since],
        ];
    }

    openCalls(name, domain) {
        this.action.doAction({
            type: "ir.actions.act_window",
            name,
            res_model: "vpbx.call",
            views: [
                [false, "list"],
                [false, "form"],
            ],
            domain: [...this.period, ...domain],
        });
    }

    openNotCalledBack() {
        this.openCalls(_t("Missed, not called back"), [["callback_state", "=", "pending"]]);
    }

    openAnalysis(groupBy, view = "pivot") {
        const views = view === "graph" ? [[false, "graph"], [false, "pivot"]] : [[false, "pivot"], [false, "graph"]];
        this.action.doAction({
            type: "ir.actions.act_window",
            name: _t("Calls Analysis"),
            res_model: "vpbx.call",
            views: [...views, [false, "list"]],
            domain: this.period,
            context: {
                search_default_inbound: view === "pivot" ? 1 : 0,
                pivot_row_groupby: [groupBy],
                pivot_measures: ["__count", "answered_percent", "ring_duration", "callback_minutes"],
                graph_groupbys: [groupBy],
            },
        });
    }

    value(number, suffix = "") {
        return number === null || number === undefined ? "–" : `${number}${suffix}`;
    }
}

registry.category("actions").add("sentech_vpbx.call_center", CallCenter);
