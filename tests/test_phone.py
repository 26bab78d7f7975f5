"""Phone keys: every written form of a line, old or new, gives the same canonical key."""

import csv
import unittest

from odoo.addons.sentech_vpbx.services import phone, vn_renumbering
from odoo.tests import BaseCase, tagged

try:
    import hypothesis
except ImportError:  # optional: the property tests are skipped without it
    hypothesis = None

MOBILE = "+84912345678"
HCMC = "+842838234567"


def _rows(path):
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@tagged("post_install", "-at_install")
class TestPhoneKeys(BaseCase):
    def assertKeys(self, number, expected, region=phone.DEFAULT_REGION):
        self.assertEqual(phone.phone_keys(number, region), expected, f"phone_keys({number!r})")

    def test_written_forms_share_one_key(self):
        forms = {
            MOBILE: [
                "0912 345 678",
                "0912.345.678",
                "84912345678",
                "+84 912 345 678",
                "0084912345678",
                "0912-345-678",
                "(+84) 912345678",
                "+84 (0) 912 345 678",
                "84 0912 345 678",
                "912345678",
            ],
            HCMC: ["(028) 3823 4567", "+84 28 3823 4567", "842838234567", "028.3823.4567"],
        }
        for key, numbers in forms.items():
            for number in numbers:
                with self.subTest(number=number):
                    self.assertKeys(number, [key])
                    self.assertEqual(phone.normalize(number), key)

    def test_tables_loaded(self):
        self.assertEqual(len(vn_renumbering.OLD_MOBILE_PREFIXES), 21)
        # 63 provinces, 4 of which kept their code
        self.assertEqual(len(vn_renumbering.OLD_LANDLINE_CODES), 59)
        self.assertEqual(vn_renumbering.OLD_LANDLINE_CODES["8"][:2], ("28", 8))
        self.assertEqual(vn_renumbering.OLD_LANDLINE_CODES["511"][:2], ("236", 7))

    def test_every_old_mobile_prefix(self):
        for row in _rows(vn_renumbering.MOBILE_CSV):
            old, new = row["old_prefix"], row["new_prefix"]
            expected = ["+84" + new[1:] + "3456789"]
            for number in (
                f"{old} 345 6789",
                f"84{old[1:]}3456789",
                f"+84 {old[1:]} 345 6789",
                f"0084{old[1:]}3456789",
                f"({old}) 345-6789",
            ):
                with self.subTest(number=number, operator=row["operator"]):
                    self.assertKeys(number, expected)

    def test_old_mobile_examples(self):
        self.assertKeys("0168 345 6789", ["+84383456789"])
        self.assertKeys("84168 345 6789", ["+84383456789"])
        self.assertKeys("+84 168 345 6789", ["+84383456789"])
        self.assertKeys("0084168 345 6789", ["+84383456789"])

    def test_every_province(self):
        """Each old area code reaches its new one; modern readings, when valid, come first."""
        for row in _rows(vn_renumbering.LANDLINE_CSV):
            old, new = row["old_code"], row["new_code"]
            subscriber = "38234567" if new in ("024", "028") else "3823456"
            expected = "+84" + new[1:] + subscriber
            forms = (
                f"({old}) {subscriber}",
                f"+84 {old[1:]} {subscriber}",
                f"84{old[1:]}{subscriber}",
            )
            for number in forms:
                with self.subTest(province=row["province"], number=number):
                    keys = phone.phone_keys(number)
                    self.assertIn(expected, keys)
                    modern = "+84" + old[1:] + subscriber
                    self.assertEqual(keys[0], modern if len(keys) == 2 else expected)

    def test_landline_phases(self):
        self.assertKeys("(04) 3823 4567", ["+842438234567"])  # Hà Nội, phase 3
        self.assertKeys("(08) 3823 4567", ["+84838234567", HCMC])  # TP. HCM, phase 3
        self.assertKeys("0511 382 3456", ["+842363823456"])  # Đà Nẵng, phase 1
        self.assertKeys("0320 382 3456", ["+842203823456"])  # Hải Dương, phase 2
        self.assertKeys("022 382 3456", ["+842123823456"])  # Sơn La, phase 1 (9 digits)
        self.assertKeys("061 382 3456", ["+842513823456"])  # Đồng Nai, phase 3
        self.assertKeys("0211 382 3456", ["+842113823456"])  # Vĩnh Phúc, unchanged
        self.assertKeys("0236 382 3456", ["+842363823456"])  # a modern landline: one key

    def test_ambiguous_hcmc_08(self):
        """08 + 8 digits: the modern 08x mobile first, the old HCMC landline second."""
        for number in ("08 3823 4567", "(08) 38234567", "+84 8 3823 4567", "8483823 4567"):
            with self.subTest(number=number):
                self.assertKeys(number, ["+84838234567", HCMC])
        self.assertEqual(phone.normalize("08 3823 4567"), "+84838234567")

    def test_old_codes_that_are_mobile_prefixes_now(self):
        self.assertKeys("038 382 3456", ["+84383823456", "+842383823456"])  # Nghệ An / Viettel
        self.assertKeys("031 382 3456", ["+84313823456", "+842253823456"])  # Hải Phòng
        self.assertKeys("070 382 3456", ["+84703823456", "+842703823456"])  # Vĩnh Long

    def test_old_four_digit_codes_against_024_028(self):
        # old Bắc Giang 0240 / Thái Nguyên 0280 + 7 digits: 024/028 + 0xxx xxxx is not valid today
        self.assertKeys("0240 382 3456", ["+842043823456"])
        self.assertKeys("0280 382 3456", ["+842083823456"])
        # a modern 11-digit Hà Nội number is never read as an old code
        self.assertKeys("024 3823 4567", ["+842438234567"])

    def test_service_numbers(self):
        self.assertKeys("1900 1234", ["+8419001234"])
        self.assertEqual(phone.national_number("1900 1234"), "19001234")

    def test_foreign_numbers(self):
        self.assertKeys("+1 650 253 0000", ["+16502530000"])
        self.assertKeys("001 650 253 0000", ["+16502530000"])
        self.assertKeys("+65 6123 4567", ["+6561234567"])
        self.assertKeys("(650) 253-0000", ["+16502530000"], region="US")
        self.assertKeys("(650) 253-0000", ["+16502530000"], region="us")
        self.assertKeys("6123 4567", ["+6561234567"], region="SG")
        self.assertKeys("011 84 912 345 678", [MOBILE], region="US")
        self.assertKeys("842888806669", ["+842888806669"], region="SG")  # the PBX's style
        self.assertKeys("+84 912 345 678", [MOBILE], region="SG")
        self.assertKeys("0912 345 678", [MOBILE], region=None)
        self.assertKeys("0912 345 678", [MOBILE], region="XX")  # unknown region: Vietnam
        # without a country code the region decides: in Vietnam this is old Bình Dương 0650
        self.assertKeys("(650) 253-0000", ["+842742530000"])

    def test_tolerated_decorations(self):
        for number in (
            "tel:+84-912-345-678",
            "tel:+84-912-345-678;ext=101",
            "  0912 345 678  ",
            "0912 345 678 ext. 12",
            "0912345678#101",
            "Tel: 0912 345 678",
            "0912\u00a0345\u00a0678",
            "\uff10\uff19\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18",  # full-width
            "\u0660\u0669\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",  # Arabic-Indic
            "0912 345 678 / 0987 654 321",  # only the first number counts
            "0912 345 678 (home)",
        ):
            with self.subTest(number=number):
                self.assertKeys(number, [MOBILE])

    def test_junk_gives_nothing(self):
        junk = [
            None,
            "",
            "   ",
            "101",
            "1234",
            "abc",
            "phone",
            "+",
            "++84",
            "0000000000",
            "0912",
            "0912 345 678 999 999 999 999",
            "1" * 500,
            "\x00",
            "\ud800",
            912345678,
            84912345678,
            0.5,
            float("nan"),
            True,
            ["0912345678"],
            {"phone": "0912345678"},
            b"0912345678",
            object(),
        ]
        for value in junk:
            with self.subTest(value=value):
                self.assertEqual(phone.phone_keys(value), [])
                self.assertIsNone(phone.normalize(value))
                self.assertIsNone(phone.national_number(value))
                self.assertIsInstance(phone.format_display(value), str)
        self.assertEqual(phone.phone_keys("0912345678", region=["VN"]), [MOBILE])

    def test_national_number(self):
        self.assertEqual(phone.national_number("+84 912 345 678"), "0912345678")
        self.assertEqual(phone.national_number("0168 345 6789"), "0383456789")
        self.assertEqual(phone.national_number("(08) 3823 4567"), "0838234567")
        self.assertEqual(phone.national_number("+84 28 3823 4567"), "02838234567")
        self.assertEqual(phone.national_number("+1 650 253 0000"), "+16502530000")

    def test_format_display(self):
        self.assertEqual(phone.format_display("84912345678"), "0912 345 678")
        self.assertEqual(phone.format_display("+84 28 3823 4567"), "028 3823 4567")
        self.assertEqual(phone.format_display("0511 382 3456"), "0236 3823 456")
        self.assertEqual(phone.format_display("+1 650 253 0000"), "+1 650-253-0000")
        self.assertEqual(phone.format_display("+1 650 253 0000", "US"), "(650) 253-0000")
        self.assertEqual(phone.format_display("  ext 101 "), "ext 101")
        self.assertEqual(phone.format_display(None), "")

    def test_result_is_a_fresh_list(self):
        keys = phone.phone_keys("08 3823 4567")
        keys.clear()
        self.assertEqual(len(phone.phone_keys("08 3823 4567")), 2)

    @unittest.skipUnless(hypothesis, "hypothesis is not installed")
    def test_property_never_raises(self):
        from hypothesis import HealthCheck, given, settings
        from hypothesis import strategies as st

        numbers = st.one_of(
            st.text(max_size=40),
            st.from_regex(r"[+(]?[0-9 .()\-]{4,20}", fullmatch=True),
            st.integers(),
            st.floats(),
            st.none(),
            st.lists(st.text(max_size=5), max_size=3),
        )
        regions = st.sampled_from(["VN", "vn", "US", "SG", None, "", "ZZ"])

        @settings(
            max_examples=300,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(numbers, regions)
        def check(number, region):
            keys = phone.phone_keys(number, region)
            self.assertEqual(len(keys), len(set(keys)))
            for key in keys:
                self.assertTrue(key.startswith("+") and key[1:].isdigit(), key)
                self.assertEqual(phone.phone_keys(key)[0], key)  # a key is its own first key
            self.assertIsInstance(phone.format_display(number, region), str)
            national = phone.national_number(number, region)
            if keys and region in ("VN", None):
                self.assertEqual(phone.phone_keys(national)[0], keys[0])

        check()
