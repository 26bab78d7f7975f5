"""services/provisioning.py: password policy, invite body, credential extraction, matching."""

from odoo.addons.sentech_vpbx.services import provisioning as prov
from odoo.addons.sentech_vpbx.tools.vpbx_simulator import password_ok
from odoo.tests import BaseCase, tagged


def envelope(payload, **root):
    return {"instance_id": "x", "status_code": 9999, "payload": payload, **root}


@tagged("post_install", "-at_install")
class TestProvisioningService(BaseCase):
    def test_generated_password_meets_policy(self):
        seen = set()
        for length in (1, 8, 12, 16, 40):
            for _i in range(50):
                password = prov.generate_password(length)
                self.assertGreaterEqual(len(password), max(length, 8))
                # each class of the documented policy, the special among the accepted ones
                self.assertTrue(any(c.isupper() for c in password), password)
                self.assertTrue(any(c.islower() for c in password), password)
                self.assertTrue(any(c.isdigit() for c in password), password)
                self.assertTrue(set(password) & set(prov.PASSWORD_SPECIALS), password)
                # the simulator implements the documented policy independently
                self.assertTrue(password_ok(password), password)
                self.assertFalse(set(password) & set("'\"\\ "), password)
                seen.add(password)
        self.assertEqual(len(seen), 250, "passwords must be random")

    def test_password_policy(self):
        """The policy check the tests use (the simulator's, as the PBX enforces it) refuses what
        the documented policy refuses: the generated passwords are checked against it."""
        self.assertEqual(prov.PASSWORD_MIN_LENGTH, 8)
        self.assertFalse(password_ok("Ab1!"))
        self.assertFalse(password_ok("abcdefg1!"))
        self.assertFalse(password_ok("ABCDEFG1!"))
        self.assertFalse(password_ok("Abcdefgh!"))
        self.assertFalse(password_ok("Abcdefgh1"))
        self.assertFalse(password_ok(""))
        self.assertTrue(password_ok("Abcdefg1!"))

    def test_build_invite_body(self):
        fields = {
            "full_name": "full_name",
            "email": " identify_info ",
            "password": "password",
            "role": "",
            "extension": "",
        }
        values = {
            "full_name": "Nguyễn Văn An",
            "email": "an@example.com",
            "password": None,
            "role": "agent",
            "extension": "150",
        }
        self.assertEqual(
            prov.build_invite_body(fields, values),
            {"full_name": "Nguyễn Văn An", "identify_info": "an@example.com"},
        )
        fields.update(role="role_name", extension="sip_user", password="pwd")
        values["password"] = "Xy1!abcd"
        self.assertEqual(
            prov.build_invite_body(fields, values),
            {
                "full_name": "Nguyễn Văn An",
                "identify_info": "an@example.com",
                "pwd": "Xy1!abcd",
                "role_name": "agent",
                "sip_user": "150",
            },
        )

    def test_default_paths_cover_documented_places(self):
        paths = prov.parse_paths(prov.DEFAULT_PATHS["extension"])
        self.assertEqual(paths[0], "payload.pbx_account.sip_user")
        for path in ("payload.sip_user", "payload.username", "extension", "sip_user"):
            self.assertIn(path, paths)
        self.assertIn("payload.pbx_account.sip_realm", prov.DEFAULT_PATHS["domain"])
        self.assertIn("sip_password", prov.DEFAULT_PATHS["password"])

    def test_extract_from_payload(self):
        data = envelope(
            {"agent_id": "a-1", "domain": "pbx.vn", "sip_user": "101", "password": "P@ss1234"}
        )
        self.assertEqual(
            prov.extract_credentials(data),
            {"domain": "pbx.vn", "extension": "101", "password": "P@ss1234", "agent_id": "a-1"},
        )

    def test_extract_from_pbx_account(self):
        data = envelope(
            {
                "agent_id": "a-2",
                # an agent's own login name must not win over the PBX account's user
                "username": "an@example.com",
                "pbx_account": {"sip_realm": "pbx.vn", "username": 102, "sip_password": "S3cret!x"},
            }
        )
        self.assertEqual(
            prov.extract_credentials(data),
            {"domain": "pbx.vn", "extension": "102", "password": "S3cret!x", "agent_id": "a-2"},
        )

    def test_extract_from_root(self):
        data = envelope({"agent_id": "a-3"}, domain="pbx.vn", extension="103", password="R00t!pwd")
        self.assertEqual(
            prov.extract_credentials(data),
            {"domain": "pbx.vn", "extension": "103", "password": "R00t!pwd", "agent_id": "a-3"},
        )

    def test_extract_missing_and_odd_values(self):
        data = envelope({"sip_user": "", "password": True, "domain": {"x": 1}})
        self.assertEqual(
            prov.extract_credentials(data),
            {"domain": None, "extension": None, "password": None, "agent_id": None},
        )
        self.assertEqual(prov.extract_credentials(None)["extension"], None)
        self.assertEqual(prov.extract_credentials("text")["extension"], None)

    def test_extract_with_configured_paths(self):
        data = envelope({"accounts": [{"user": {"ext": 104}, "secret": "Cfg!1pwd"}]})
        paths = {
            "extension": "payload.accounts.0.user.ext",
            "password": " payload.accounts.0.secret ,password",
        }
        creds = prov.extract_credentials(data, paths)
        self.assertEqual(creds["extension"], "104")
        self.assertEqual(creds["password"], "Cfg!1pwd")
        # an out-of-range index is just "not found"
        self.assertIsNone(prov.dig(data, "payload.accounts.5.secret"))

    def test_item_keys_and_credentials_from_item(self):
        self.assertEqual(
            prov.item_keys("payload.pbx_account.sip_user, payload.sip_user, username"),
            ["sip_user", "username"],
        )
        item = {"domain": "pbx.vn", "sip_user": "105", "password": "It3m!pwd", "agent_id": "a"}
        self.assertEqual(
            prov.credentials_from_item(item),
            {"domain": "pbx.vn", "extension": "105", "password": "It3m!pwd", "agent_id": "a"},
        )
        creds = prov.credentials_from_item(
            {"realm": "r", "ext": "9", "password": "x"}, {"domain": "a.realm", "extension": "ext"}
        )
        self.assertEqual((creds["domain"], creds["extension"]), ("r", "9"))
        # a path naming nothing still reads the documented keys of the list
        self.assertEqual(prov.item_keys("payload.nothing", "extension")[0], "nothing")
        creds = prov.credentials_from_item(item, {"extension": "payload.nothing"})
        self.assertEqual(creds["extension"], "105")

    def _items(self):
        return [
            {"sip_user": "101", "email": "an@example.com", "password": "a"},
            {"sip_user": "1010", "email": "binh@example.com", "password": "b"},
            {"sip_user": "102", "email": "Chau@Example.com", "password": "c"},
            "garbage",
        ]

    def test_match_by_email_case_insensitive(self):
        match = prov.match_items(self._items(), email=" chau@example.COM ")
        self.assertEqual((match.status, match.by), ("found", "email"))
        self.assertEqual(match.item["sip_user"], "102")

    def test_match_by_extension_is_exact(self):
        # keyword "101" on the PBX also returns 1010: only the exact one matches
        match = prov.match_items(self._items(), email="nobody@example.com", extension="101")
        self.assertEqual((match.status, match.by), ("found", "extension"))
        self.assertEqual(match.item["password"], "a")
        match = prov.match_items(self._items(), extension=101)
        self.assertEqual(match.item["sip_user"], "101")

    def test_match_none(self):
        self.assertEqual(prov.match_items(self._items(), email="x@y.z").status, "none")
        self.assertEqual(prov.match_items(self._items(), extension="10").status, "none")
        self.assertEqual(prov.match_items([], email="an@example.com").status, "none")
        self.assertEqual(prov.match_items(self._items()).status, "none")

    def test_match_ambiguous(self):
        items = [*self._items(), {"sip_user": "103", "email": "AN@example.com", "password": "d"}]
        match = prov.match_items(items, email="an@example.com")
        self.assertEqual((match.status, match.by), ("ambiguous", "email"))
        self.assertEqual(len(match.candidates), 2)
        # the extension settles a duplicated e-mail
        match = prov.match_items(items, email="an@example.com", extension="103")
        self.assertEqual((match.status, match.item["password"]), ("found", "d"))
        items = [{"sip_user": "7", "password": "x"}, {"extension": "7", "password": "y"}]
        match = prov.match_items(items, extension="7")
        self.assertEqual((match.status, match.by), ("ambiguous", "extension"))

    def test_describe_item_has_no_secret(self):
        text = prov.describe_item(
            {"sip_user": "101", "full_name": "An", "email": "an@example.com", "password": "Zz9!"}
        )
        self.assertEqual(text, "101 An <an@example.com>")
