/**
 * Browser tour of the calls in the sales pipeline (issue #16), started by
 * tests/test_ui_tours.py. Selectors use technical names only: it runs unchanged in English
 * and in Vietnamese.
 */
import { registry } from "@web/core/registry";

/** Two steps asking the test for a screenshot (see sentech_vpbx_tours.js). */
function screenshot(name) {
    return [
        {
            content: `ask for the screenshot "${name}"`,
            trigger: "body",
            async run() {
                await document.fonts.ready;
                console.log(`sentech_vpbx:screenshot ${name}`);
            },
        },
        {
            content: `screenshot "${name}" taken`,
            trigger: `body[data-sentech-vpbx-screenshot='${name}']`,
        },
    ];
}

/**
 * A salesperson opens an opportunity that carries a number: its calls, the Call button next to
 * the number, the missed call's call-back activity; then the list of its calls.
 */
registry.category("web_tour.tours").add("sentech_vpbx_crm_lead_calls", {
    steps: () => [
        {
            content: "the smart button counts the opportunity's two calls",
            trigger: ".o_form_view button[name='action_vpbx_open_calls'] .o_stat_value:contains(2)",
        },
        {
            content: "a Call button next to the number",
            trigger: ".o_form_view button[name='action_vpbx_call_phone']",
        },
        {
            content: "the missed call left a call-back activity on the opportunity",
            trigger: ".o-mail-Activity:has(.fa-phone)",
        },
        ...screenshot("lead"),
        {
            content: "open the calls",
            trigger: ".o_form_view button[name='action_vpbx_open_calls']",
            run: "click",
        },
        {
            content: "two calls are listed",
            trigger: ".o_list_view tbody:has(tr.o_data_row:nth-child(2))",
        },
        {
            content: "the missed call is shown in red, with the opportunity",
            trigger: ".o_list_view tr.o_data_row.text-danger td[name='lead_id']",
        },
    ],
});
