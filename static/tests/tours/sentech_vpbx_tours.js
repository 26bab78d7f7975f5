/**
 * Browser tours of sentech_vpbx, started by tests/test_ui_tours.py.
 *
 * Selectors use technical names (fields, buttons, tabs) and numbers only, so every tour runs
 * unchanged in English and in Vietnamese.
 */
import { registry } from "@web/core/registry";

const SUCCESS_NOTIFICATION = ".o_notification:has(.o_notification_bar.bg-success)";
const PBX_NAME_CELL = ".o_list_view .o_data_row td[name='name']";

/**
 * Two steps asking the test for a screenshot of the page as it is: the first logs
 * "sentech_vpbx:screenshot <name>" (the test captures the page, or does nothing when no
 * screenshot folder is set, then marks the body), the second waits for that mark.
 */
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

/** A value the test may hand over in a cookie, or null. */
function optionalTourCookie(name) {
    const prefix = `${name}=`;
    const cookie = document.cookie.split("; ").find((c) => c.startsWith(prefix));
    return cookie ? decodeURIComponent(cookie.slice(prefix.length)) : null;
}

/** Values the test hands over in cookies (the simulator's URL is known only at run time). */
function tourCookie(name) {
    const value = optionalTourCookie(name);
    if (value === null) {
        throw new Error(`the test did not set the cookie ${name}`);
    }
    return value;
}

/**
 * (a) An administrator configures the PBX account and tests it. Starts on the PBX accounts list
 * (VPBX > Configuration > PBX accounts); opens the account named in the cookie
 * sentech_vpbx_tour_pbx, or the first one.
 */
registry.category("web_tour.tours").add("sentech_vpbx_admin_settings", {
    steps: () => [
        {
            content: "open the PBX account",
            trigger: PBX_NAME_CELL,
            async run(helpers) {
                const name = optionalTourCookie("sentech_vpbx_tour_pbx");
                const cells = [...document.querySelectorAll(PBX_NAME_CELL)];
                const cell = name ? cells.find((c) => c.textContent.trim() === name) : cells[0];
                if (!cell) {
                    throw new Error(`no PBX account named ${name} in the list`);
                }
                await helpers.click(cell);
            },
        },
        {
            content: "fill the API URL with the simulator's",
            trigger: ".o_form_view div[name='api_url'] input",
            async run(helpers) {
                await helpers.edit(tourCookie("sentech_vpbx_tour_api_url"));
            },
        },
        {
            content: "fill the API key",
            trigger: ".o_form_view div[name='api_key'] input",
            async run(helpers) {
                await helpers.edit(tourCookie("sentech_vpbx_tour_api_key"));
            },
        },
        {
            content: "save",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "the account is saved with the new URL",
            trigger: ".o_form_view .o_form_saved div[name='api_url'] input:value(127.0.0.1)",
        },
        {
            content: "test the connection",
            trigger: ".o_form_view button[name='action_test_connection']",
            run: "click",
        },
        {
            content: "a success notification names the PBX",
            trigger: `${SUCCESS_NOTIFICATION} .o_notification_content:contains(127.0.0.1)`,
        },
        ...screenshot("settings"),
    ],
});

/** (b) An HR manager creates an employee's extension on the PBX. Starts on the employee. */
registry.category("web_tour.tours").add("sentech_vpbx_hr_provision", {
    steps: () => [
        {
            content: "open the VPBX tab",
            trigger: ".o_notebook_headers a.nav-link[name='vpbx']",
            run: "click",
        },
        {
            content: "no extension yet",
            trigger: "div[name='vpbx_extension'] input:value(/^$/)",
        },
        {
            content: "create the employee on the PBX",
            trigger: "button[name='action_vpbx_invite']",
            run: "click",
        },
        {
            content: "the PBX confirms",
            trigger: SUCCESS_NOTIFICATION,
        },
        {
            content: "the extension is filled",
            trigger: "div[name='vpbx_extension'] input:value(/^\\d+$/)",
        },
        {
            content: "the employee is provisioned: the create button is gone",
            trigger: ".o_form_view:not(:has(button[name='action_vpbx_invite']))",
        },
        ...screenshot("employee"),
    ],
});

/**
 * (c) A salesperson opens a contact, sees its calls and the missed call to return.
 * Starts on the contact; the contact's number is handed over in a cookie.
 */
registry.category("web_tour.tours").add("sentech_vpbx_sales_calls", {
    steps: () => [
        {
            content: "the smart button counts the contact's three calls",
            trigger: "button[name='action_vpbx_open_calls'] .o_stat_value:contains(3)",
        },
        {
            content: "the missed call left a call-back activity in the chatter",
            trigger: ".o-mail-Activity:has(.fa-phone)",
            run() {
                // the summary writes the number with spaces: compare digits only
                const number = tourCookie("sentech_vpbx_tour_number");
                if (!this.anchor.textContent.replace(/\D/g, "").includes(number)) {
                    throw new Error(`the activity does not name ${number}`);
                }
            },
        },
        ...screenshot("contact"),
        {
            content: "open the calls",
            trigger: "button[name='action_vpbx_open_calls']",
            run: "click",
        },
        {
            content: "three calls are listed",
            trigger: ".o_list_view tbody:has(tr.o_data_row:nth-child(3))",
        },
        {
            content: "the missed call is shown in red",
            trigger: ".o_list_view tr.o_data_row.text-danger td[name='status']",
        },
        ...screenshot("calls"),
        {
            content: "open the missed call",
            trigger: ".o_list_view tr.o_data_row.text-danger td[name='customer_number']",
            run: "click",
        },
        {
            content: "its form shows the status missed",
            trigger: ".o_form_view div[name='status'] button.o_arrow_button_current[data-value='missed']",
        },
        ...screenshot("call_form"),
    ],
});

/**
 * (e) After the call: the salesperson records the outcome of an answered call on its form (the
 * outcome's name in the tour's language in the cookie sentech_vpbx_tour_outcome).
 */
registry.category("web_tour.tours").add("sentech_vpbx_outcome_screens", {
    steps: () => [
        {
            content: "Record Outcome",
            trigger: ".o_form_view .o_form_statusbar button:has(.fa-check-square-o)",
            run: "click",
        },
        {
            content: "choose the outcome",
            trigger: ".modal .o_field_widget[name='outcome_id'] input",
            run: `edit ${tourCookie("sentech_vpbx_tour_outcome")}`,
        },
        {
            content: "the outcome is proposed",
            trigger: `.o-autocomplete--dropdown-item a:contains(${tourCookie("sentech_vpbx_tour_outcome")})`,
            run: "click",
        },
        {
            content: "a note",
            trigger: ".modal .o_field_widget[name='note'] textarea",
            run: `edit ${tourCookie("sentech_vpbx_tour_note")}`,
        },
        ...screenshot("outcome"),
        {
            content: "save",
            trigger: ".modal .modal-footer button.btn-primary",
            run: "click",
        },
        {
            // the dialog lives outside the form: wait until it is gone, the outcome saved
            content: "the call shows its outcome",
            trigger: `body:not(:has(.modal)) .o_form_view .o_field_widget[name='outcome_id']:contains(${tourCookie("sentech_vpbx_tour_outcome")})`,
        },
    ],
});

/** (f) The manager's Call center: answer rate, missed calls not called back, time to call back. */
registry.category("web_tour.tours").add("sentech_vpbx_call_center_screens", {
    steps: () => [
        {
            content: "the figures are there",
            trigger: ".o_vpbx_call_center .o_vpbx_kpi_not_called_back .fs-2:contains(1)",
        },
        ...screenshot("call_center"),
    ],
});
