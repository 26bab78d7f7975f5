/**
 * Live calls: listens to the bus for the calls ringing on the user's phone and keeps the one
 * pop-up's state. The notification carries ids only; the card is read through RPC under the
 * user's own rights. Every tab receives the bus notification: a dismissed call is written to
 * localStorage, so that dismissing it in one tab closes it in all of them.
 */
import { reactive } from "@odoo/owl";
import { browser } from "@web/core/browser/browser";
import { registry } from "@web/core/registry";

export const NOTIFICATION_TYPE = "sentech_vpbx/live_call";
const DISMISSED_KEY = "sentech_vpbx.live_call.dismissed";
/** A call answered by a colleague stays on screen this long, saying by whom. */
const ANSWERED_ELSEWHERE_DELAY = 4000;
const RECENT_LIMIT = 10;

export const liveCallService = {
    dependencies: ["bus_service", "orm"],
    start(env, { bus_service, orm }) {
        const state = reactive({ card: null, recent: [], recentLoaded: false });
        let closeTimer = null;

        function dismissedIds() {
            try {
                return JSON.parse(browser.localStorage.getItem(DISMISSED_KEY) || "[]");
            } catch {
                return [];
            }
        }

        function close(callId, { everywhere = false } = {}) {
            if (state.card && state.card.id === callId) {
                state.card = null;
            }
            if (everywhere) {
                const ids = [callId, ...dismissedIds().filter((id) => id !== callId)];
                browser.localStorage.setItem(DISMISSED_KEY, JSON.stringify(ids.slice(0, 20)));
            }
        }

        async function load(callId) {
            let card;
            try {
                card = await orm.silent.call("vpbx.live.call", "vpbx_live_card", [callId]);
            } catch {
                return null; // not (or no longer) readable: no pop-up rather than an error dialog
            }
            if (dismissedIds().includes(callId)) {
                return null;
            }
            return card;
        }

        function remember(card) {
            const entry = {
                id: card.id,
                number_display: card.number_display,
                partner: card.partner ? card.partner.name : "",
                status_label: card.status_label,
            };
            state.recent = [entry, ...state.recent.filter((c) => c.id !== card.id)].slice(
                0,
                RECENT_LIMIT
            );
        }

        // Notifications come in order, cards load asynchronously: only the card of the latest
        // call is shown, never one of a call closed meanwhile. (A new page replays the bus's
        // last minute: the card's own stage, read now, drops calls that are over.)
        let latest = null;
        const closedIds = new Set();

        async function onLiveCall({ call_id: callId, stage }) {
            if (dismissedIds().includes(callId)) {
                return;
            }
            if (stage === "closed") {
                closedIds.add(callId);
                const card = state.card;
                if (card && card.id === callId && card.can_record_outcome && !card.outcome_id) {
                    // the agent who took it says what came of it, then closes the pop-up
                    state.card = { ...card, stage: "closed" };
                    return;
                }
                close(callId);
                return;
            }
            const showing = state.card && state.card.id === callId;
            if (stage === "answered" && !showing && state.card) {
                return; // another call is on screen: a colleague's answer is no news here
            }
            latest = callId;
            const card = await load(callId);
            if (!card || latest !== callId || closedIds.has(callId) || card.stage === "closed") {
                return;
            }
            if (card.stage === "answered" && !showing && !card.answered_by_me) {
                return; // a pop-up only for the one who took it, when the ringing was missed
            }
            // one pop-up: a newer call replaces the one on screen
            state.card = card;
            remember(card);
            browser.clearTimeout(closeTimer);
            if (card.stage === "answered" && !card.answered_by_me) {
                closeTimer = browser.setTimeout(() => close(callId), ANSWERED_ELSEWHERE_DELAY);
            }
        }

        browser.addEventListener("storage", (ev) => {
            if (ev.key === DISMISSED_KEY && state.card && dismissedIds().includes(state.card.id)) {
                state.card = null;
            }
        });
        bus_service.subscribe(NOTIFICATION_TYPE, onLiveCall);
        bus_service.start();

        return {
            state,
            dismiss(callId) {
                close(callId, { everywhere: true });
            },
            async loadRecent() {
                const calls = await orm.call("vpbx.live.call", "vpbx_live_recent", []);
                const known = new Set(calls.map((c) => c.id));
                state.recent = [...calls, ...state.recent.filter((c) => !known.has(c.id))].slice(
                    0,
                    RECENT_LIMIT
                );
                state.recentLoaded = true;
            },
            async setOutcome(callId, outcomeId, note) {
                return orm.call("vpbx.live.call", "vpbx_live_set_outcome", [callId, outcomeId, note]);
            },
            async callBackLater(callId) {
                return orm.call("vpbx.live.call", "vpbx_live_call_back_later", [callId]);
            },
            async refresh(callId) {
                const card = await load(callId);
                if (card && state.card && state.card.id === callId) {
                    state.card = card;
                }
            },
        };
    },
};

registry.category("services").add("sentech_vpbx_live_call", liveCallService);
