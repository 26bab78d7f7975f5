"""The rows of the contact key table (``vpbx_partner_phone``), without the ORM.

Shared by the model (``vpbx.partner.phone``) and the benchmarks, which fill the same table by
COPY: one definition of which contacts are read and which rows they give.
"""

from .phone import phone_keys

#: Region of a contact without a country whose company has none either.
DEFAULT_REGION = "VN"

#: Contacts with a number, id in (%s, %s], at most %s of them, in id order, with the country
#: code of the contact and of its company (the region their numbers are read in).
CONTACT_NUMBERS_QUERY = """
    SELECT p.id, p.company_id, p.phone, p.mobile, pc.code, cc.code
      FROM res_partner p
 LEFT JOIN res_country pc ON pc.id = p.country_id
 LEFT JOIN res_company co ON co.id = p.company_id
 LEFT JOIN res_partner cp ON cp.id = co.partner_id
 LEFT JOIN res_country cc ON cc.id = cp.country_id
     WHERE p.id > %s AND p.id <= %s
       AND (COALESCE(p.phone, '') != '' OR COALESCE(p.mobile, '') != '')
  ORDER BY p.id
     LIMIT %s
"""


def number_keys(region, numbers):
    """(key, field, rank) of a record's numbers, a key once (the first field giving it wins).

    ``numbers`` is a sequence of (field name, written number). Contacts and leads alike.
    """
    seen = set()
    for fname, number in numbers:
        if not number:
            continue
        for rank, key in enumerate(phone_keys(number, region)):
            if key not in seen:
                seen.add(key)
                yield key, fname, rank


def key_rows(partner_id, company_id, region, numbers):
    """Rows (partner_id, company_id, key, field, rank) of one contact; a key appears once."""
    return [(partner_id, company_id, *row) for row in number_keys(region, numbers)]


def rows_of_contacts(found):
    """Key rows of contacts as returned by CONTACT_NUMBERS_QUERY."""
    rows = []
    for pid, company_id, phone, mobile, country, company_country in found:
        region = country or company_country or DEFAULT_REGION
        rows += key_rows(pid, company_id, region, (("phone", phone), ("mobile", mobile)))
    return rows
