/**
 * After the call (issue #17), started by tests/test_call_outcome.py: the agent records an
 * outcome on the call form; the manager opens the Call center and follows its figures.
 */
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("sentech_vpbx_outcome", {
    steps: () => [
        {
            content: "record the call's outcome",
            trigger: ".o_form_view .o_form_statusbar button:contains('Record Outcome')",
            run: "click",
        },
        {
            content: "choose an outcome",
            trigger: ".modal .o_field_widget[name='outcome_id'] input",
            run: "edit Interested",
        },
        {
            content: "the outcome is proposed",
            trigger: ".o-autocomplete--dropdown-item a:contains('Interested')",
            run: "click",
        },
        {
            content: "say what was said",
            trigger: ".modal .o_field_widget[name='note'] textarea",
            run: "edit Wants a quote <b>today</b>",
        },
        {
            content: "save",
            trigger: ".modal .modal-footer button.btn-primary",
            run: "click",
        },
        {
            content: "the call shows its outcome",
            trigger: ".o_form_view:not(:has(.modal)) .o_field_widget[name='outcome_id']:contains('Interested')",
        },
        {
            content: "and the note, as text",
            trigger: ".o_field_widget[name='outcome_note']:contains('Wants a quote <b>today</b>')",
        },
    ],
});

registry.category("web_tour.tours").add("sentech_vpbx_call_center", {
    steps: () => [
        {
            content: "the answer rate",
            trigger: ".o_vpbx_call_center .o_vpbx_kpi_answer_rate .fs-2:contains('%')",
        },
        {
            content: "the missed calls nobody called back, one click away",
            trigger: ".o_vpbx_call_center .o_vpbx_kpi_not_called_back",
            run: "click",
        },
        {
            content: "their list",
            trigger: ".o_list_view .o_data_row",
        },
        {
            content: "back to the Call center",
            trigger: ".o_breadcrumb .o_back_button, .o_breadcrumb li.breadcrumb-item a",
            run: "click",
        },
        {
            content: "the answer rate by agent",
            trigger: ".o_vpbx_call_center .o_vpbx_by_agent",
            run: "click",
        },
        {
            content: "a pivot table by agent",
            trigger: ".o_pivot .o_pivot_header_cell_closed, .o_pivot th.o_pivot_header_cell_opened",
        },
    ],
});
