/**
 * Browser tours of the live-call pop-up, started by tests/test_ui_tours.py: a ringing event is
 * POSTed to the webhook during the tour (a real delivery), the pop-up shows the caller.
 */
import { registry } from "@web/core/registry";

const POPUP = ".o_vpbx_live_call";

function cookie(name) {
    const prefix = `${name}=`;
    const found = document.cookie.split("; ").find((c) => c.startsWith(prefix));
    if (!found) {
        throw new Error(`the test did not set the cookie ${name}`);
    }
    return decodeURIComponent(found.slice(prefix.length));
}

/** The screenshot handshake of sentech_vpbx_tours.js (the test captures the page). */
function screenshot(name) {
    return [
        {
            content: `ask for the screenshot "${name}"`,
            trigger: POPUP,
            async run() {
                await document.fonts.ready;
                // the contact's photo too
                await Promise.all(
                    [...document.querySelectorAll(`${POPUP} img`)].map((img) =>
                        img.complete ? null : new Promise((done) => (img.onload = img.onerror = done))
                    )
                );
                console.log(`sentech_vpbx:screenshot ${name}`);
            },
        },
        {
            content: `screenshot "${name}" taken`,
            trigger: `body[data-sentech-vpbx-screenshot='${name}']`,
        },
    ];
}

/** POST a ringing event as the PBX would, then ask the bus to deliver what is pending. */
function ringStep() {
    return {
        content: "the PBX sends a ringing event",
        trigger: ".o_main_navbar",
        async run() {
            const body = {
                transaction_id: cookie("sentech_vpbx_tour_call_id"),
                direction: "inbound",
                state: "ringing",
                phone_number: cookie("sentech_vpbx_tour_number"),
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
            // tests hold their transaction open: no NOTIFY reaches the bus, a new subscription
            // makes the server send what is pending (in production the NOTIFY does it)
            const services = odoo.__WOWL_DEBUG__.root.env.services;
            services.bus_service.forceUpdateChannels();
        },
    };
}

registry.category("web_tour.tours").add("sentech_vpbx_live_call_known", {
    steps: () => [
        ringStep(),
        {
            content: "the pop-up shows the contact",
            trigger: `${POPUP} .o_vpbx_live_partner_name:contains(${cookie(
                "sentech_vpbx_tour_partner"
            )})`,
        },
        {
            content: "the number is written the Vietnamese way",
            trigger: `${POPUP} .o_vpbx_live_number:contains(0938 246 810)`,
        },
        ...screenshot("live_call"),
        {
            content: "open the contact",
            trigger: `${POPUP} .o_vpbx_live_open`,
            run: "click",
        },
        {
            content: "the contact's form is open, the pop-up closed",
            trigger: `.o_form_view .o_field_widget[name='name'] input`,
            run() {
                const expected = cookie("sentech_vpbx_tour_partner");
                const value = document.querySelector(
                    ".o_form_view .o_field_widget[name='name'] input"
                ).value;
                if (value !== expected) {
                    throw new Error(`the form shows ${value}, not ${expected}`);
                }
            },
        },
        {
            content: "the pop-up is closed",
            trigger: `body:not(:has(${POPUP}))`,
        },
    ],
});

registry.category("web_tour.tours").add("sentech_vpbx_live_call_unknown", {
    steps: () => [
        ringStep(),
        {
            content: "the pop-up offers to create the contact",
            trigger: `${POPUP} .o_vpbx_live_create`,
        },
        ...screenshot("live_call_unknown"),
        {
            content: "create the contact",
            trigger: `${POPUP} .o_vpbx_live_create`,
            run: "click",
        },
        {
            content: "the new contact has the number",
            trigger: ".o_form_view .o_field_widget[name='phone'] input",
            run() {
                const value = document.querySelector(
                    ".o_form_view .o_field_widget[name='phone'] input"
                ).value;
                // the form may write it internationally (+84 977 111 222): compare the digits
                const digits = cookie("sentech_vpbx_tour_number").replace(/^0/, "");
                if (!value.replace(/\D/g, "").endsWith(digits)) {
                    throw new Error(`the phone field holds ${value}`);
                }
            },
        },
        {
            content: "name the contact",
            trigger: ".o_form_view .o_field_widget[name='name'] input",
            run: `edit ${"Khách mới"}`,
        },
        {
            content: "save",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "saved",
            trigger: ".o_form_view .o_form_saved",
        },
    ],
});
