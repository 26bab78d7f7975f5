-- sentech_vpbx: extension passwords of employees (issue #3)
UPDATE hr_employee SET vpbx_password = NULL;
-- end of extension passwords
-- sentech_vpbx: company secrets, so that a neutralized copy cannot act on the real PBX
UPDATE res_company
   SET vpbx_api_key = NULL,
       vpbx_access_token = NULL,
       vpbx_token_expiry = NULL,
       vpbx_webhook_token = NULL;
-- sentech_vpbx: every cron of the addon (history sync, imports, retries) stops
UPDATE ir_cron
   SET active = false
 WHERE id IN (SELECT res_id FROM ir_model_data
               WHERE module = 'sentech_vpbx' AND model = 'ir.cron');
-- sentech_vpbx: no history sync and no running import, even if a cron is switched on again
UPDATE res_company SET vpbx_sync_enabled = false;
UPDATE vpbx_history_import SET state = 'draft' WHERE state = 'running';
