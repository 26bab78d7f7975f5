"""Names shared by the models, controllers and tests of sentech_vpbx."""

#: Groups
GROUP_USER = "sentech_vpbx.group_vpbx_user"
GROUP_MANAGER = "sentech_vpbx.group_vpbx_manager"
GROUP_SYSTEM = "base.group_system"
#: Sales / User: own documents (the pipeline's rights)
GROUP_SALESMAN = "sales_team.group_sale_salesman"

#: Activity type of a missed inbound call
CALLBACK_ACTIVITY = "sentech_vpbx.mail_activity_type_vpbx_callback"
#: Final statuses of an inbound call that ask for a call back
CALLBACK_STATUSES = ("missed", "busy", "failed")

#: Scheduled actions woken by the code
CRON_WEBHOOK_QUEUE = "sentech_vpbx.ir_cron_vpbx_process_webhook_queue"
#: ...and its second run, woken by the first when a backlog waits (another cron worker)
CRON_WEBHOOK_QUEUE_HELPER = "sentech_vpbx.ir_cron_vpbx_process_webhook_queue_helper"
CRON_HISTORY_IMPORT = "sentech_vpbx.ir_cron_vpbx_history_import"
CRON_PURGE = "sentech_vpbx.ir_cron_vpbx_purge"

#: Window actions opened by buttons
ACTION_CALLS = "sentech_vpbx.action_vpbx_call"
ACTION_WEBHOOK_EVENTS = "sentech_vpbx.action_vpbx_webhook_event"
ACTION_PBX = "sentech_vpbx.action_vpbx_pbx"
ACTION_NEW_HISTORY_IMPORT = "sentech_vpbx.action_vpbx_history_import_new"
ACTION_ROUTE_LOG = "sentech_vpbx.action_vpbx_route_log"

#: The PBX's webhook type for live call events (ringing, answered, hangup)
CALL_EVENT_TYPE = "call_event"
