/**
 * Recordings (issue #17), started by tests/test_recording.py: the first player of the page
 * (call form, calls list or a contact's chatter note) loads and plays the recording through
 * Odoo's access-checked route; a link that is not http(s) is text, not a player.
 */
import { registry } from "@web/core/registry";

const PLAYER = "audio.o_vpbx_recording_player[src^='/vpbx/call/'][src$='/recording']";

/** Resolves once the player has the recording's metadata (it was fetched and is audio). */
function loaded(audio) {
    return new Promise((resolve, reject) => {
        if (audio.readyState >= 1) {
            resolve();
            return;
        }
        audio.addEventListener("loadedmetadata", resolve, { once: true });
        audio.addEventListener(
            "error",
            () => reject(new Error(`the recording did not load (error ${audio.error?.code})`)),
            { once: true }
        );
        audio.preload = "metadata";
        audio.load();
    });
}

registry.category("web_tour.tours").add("sentech_vpbx_recording", {
    steps: () => [
        {
            content: "a player of the call's recording",
            trigger: PLAYER,
            async run() {
                const audio = document.querySelector(PLAYER);
                await loaded(audio);
                if (!(audio.duration > 0)) {
                    throw new Error(`the recording has no duration (${audio.duration})`);
                }
                await audio.play();
                audio.pause();
                document.body.dataset.vpbxRecordingPlayed = "1";
            },
        },
        {
            content: "the recording was played",
            trigger: "body[data-vpbx-recording-played='1']",
        },
    ],
});

registry.category("web_tour.tours").add("sentech_vpbx_recording_text", {
    steps: () => [
        {
            content: "a link that is not http(s) is shown as text",
            trigger: ".o_field_vpbx_recording .o_vpbx_recording_text:contains('javascript:alert(1)')",
            run() {
                if (document.querySelector("audio.o_vpbx_recording_player, .o_field_vpbx_recording a")) {
                    throw new Error("a player or a link for a javascript: URL");
                }
            },
        },
    ],
});
