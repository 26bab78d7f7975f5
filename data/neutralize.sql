-- sentech_vpbx: extension passwords of employees
UPDATE hr_employee SET vpbx_password = NULL;
-- sentech_vpbx: PBX account secrets, so that a neutralized copy cannot act on the real PBX, and
-- no history sync even if a cron is switched on again
UPDATE vpbx_pbx
   SET api_key = NULL,
       access_token = NULL,
       token_expiry = NULL,
       webhook_token = NULL,
       sync_enabled = false;
-- sentech_vpbx: every cron of the addon (history sync, imports, retries, queue) stops
UPDATE ir_cron
   SET active = false
 WHERE id IN (SELECT res_id FROM ir_model_data
               WHERE module = 'sentech_vpbx' AND model = 'ir.cron');
UPDATE vpbx_history_import SET state = 'draft' WHERE state = 'running';
