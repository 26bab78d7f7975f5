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

const POPUP = ".o_vpbx_live_call";

function cookie(name) {
    const prefix = `${name}=`;
    const found = document.cookie.split("; ").find((c) => c.startsWith(prefix));
    if (!found) {
        throw new Error(`the test did not set the cookie ${name}`);
    }
    return decodeURIComponent(found.slice(prefix.length));
}

/** POST a ringing event of `number` as the PBX would (see sentech_vpbx_live_call_tours.js). */
function ringStep(callIdCookie, numberCookie) {
    return {
        content: `the PBX sends a ringing event (${numberCookie})`,
        trigger: ".o_main_navbar",
        async run() {
            const body = {
                transaction_id: cookie(callIdCookie),
                direction: "inbound",
                state: "ringing",
                phone_number: cookie(numberCookie),
                sip_user: cookie("sentech_vpbx_tour_extension"),
                time_start_call: Math.floor(Date.now() / 1000),
            };
            const response = await fetch(`/vpbx/webhook/${cookie("sentech_vpbx_tour_token")}`, {
                method: "POST",
                headers: { "Content-Type": "application/json" },
                body: JSON.stringify(body),
            });
            if (response.status !== 200) {
                throw new Error(`the webhook answered ${response.status}`);
            }
            // tests hold their transaction open: a new subscription sends what is pending
            odoo.__WOWL_DEBUG__.root.env.services.bus_service.forceUpdateChannels();
        },
    };
}

/**
 * The pop-up and the pipeline: a caller with an open opportunity shows it (Open opens it);
 * an unknown caller offers Create lead, prefilled with the number, and the saved lead takes
 * the ringing call.
 */
registry.category("web_tour.tours").add("sentech_vpbx_live_call_opportunity", {
    steps: () => [
        ringStep("sentech_vpbx_tour_call_id", "sentech_vpbx_tour_number"),
        {
            content: "the pop-up lists the caller's open opportunity",
            trigger: `${POPUP} .o_vpbx_live_lead[data-lead-id='${cookie(
                "sentech_vpbx_tour_lead"
            )}']`,
        },
        {
            content: "open it",
            trigger: `${POPUP} .o_vpbx_live_lead .o_vpbx_live_open_lead`,
            run: "click",
        },
        {
            content: "the opportunity's form, with its calls",
            trigger: ".o_form_view button[name='action_vpbx_open_calls']",
        },
        ringStep("sentech_vpbx_tour_call_id_unknown", "sentech_vpbx_tour_unknown"),
        {
            content: "an unknown number: Create lead",
            trigger: `${POPUP} .o_vpbx_live_create_lead`,
            run: "click",
        },
        {
            content: "a new lead, prefilled with the number",
            trigger: ".o_form_view .o_form_editable div[name='phone'] input:value(/\\d/)",
        },
        {
            content: "save it",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "saved",
            trigger: ".o_form_view .o_form_saved",
        },
    ],
});
