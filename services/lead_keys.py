"""The rows of the lead key table (``vpbx_lead_phone``), without the ORM.

Leads and opportunities (``crm.lead``) carry numbers of their own, often before any contact
exists: their ``phone`` and ``mobile`` are read into the same E.164 keys as contacts' numbers
(``services.phone.phone_keys``, today's reading first). Shared by the model
(``vpbx.lead.phone``) and the benchmarks, which fill the table by COPY.
"""

from .partner_keys import DEFAULT_REGION, number_keys

#: Leads with a number, id in (%s, %s], at most %s of them, in id order, with the country code
#: of the lead and of its company (the region their numbers are read in).
LEAD_NUMBERS_QUERY = """
    SELECT l.id, l.phone, l.mobile, lc.code, cc.code
      FROM crm_lead l
 LEFT JOIN res_country lc ON lc.id = l.country_id
 LEFT JOIN res_company co ON co.id = l.company_id
 LEFT JOIN res_partner cp ON cp.id = co.partner_id
 LEFT JOIN res_country cc ON cc.id = cp.country_id
     WHERE l.id > %s AND l.id <= %s
       AND (COALESCE(l.phone, '') != '' OR COALESCE(l.mobile, '') != '')
  ORDER BY l.id
     LIMIT %s
"""


def lead_key_rows(lead_id, region, numbers):
    """Rows (lead_id, key, field, rank) of one lead; a key appears once."""
    return [(lead_id, *row) for row in number_keys(region, numbers)]


def rows_of_leads(found):
    """Key rows of leads as returned by LEAD_NUMBERS_QUERY."""
    rows = []
    for lead_id, phone, mobile, country, company_country in found:
        region = country or company_country or DEFAULT_REGION
        rows += lead_key_rows(lead_id, region, (("phone", phone), ("mobile", mobile)))
    return rows
