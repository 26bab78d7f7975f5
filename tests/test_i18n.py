"""The shipped translation files match the terms the code declares."""

from pathlib import Path

import polib

from odoo.tests import TransactionCase, tagged
from odoo.tools.translate import TranslationModuleReader

I18N = Path(__file__).resolve().parent.parent / "i18n"


@tagged("post_install", "-at_install")
class TestI18n(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        reader = TranslationModuleReader(cls.env.cr, modules=["sentech_vpbx"])
        cls.terms = {src for module, *_rest, src, _value, _comments in reader if src}

    def test_pot_is_current(self):
        pot = {entry.msgid for entry in polib.pofile(str(I18N / "sentech_vpbx.pot"))}
        missing = sorted(self.terms - pot)
        stale = sorted(pot - self.terms)
        self.assertFalse(
            missing or stale,
            f"i18n/sentech_vpbx.pot is out of date (run ./dev i18n): "
            f"missing {missing[:20]}, stale {stale[:20]}",
        )

    def test_vietnamese_complete(self):
        po = polib.pofile(str(I18N / "vi.po"))
        translated = {e.msgid for e in po if e.msgstr.strip() and "fuzzy" not in e.flags}
        untranslated = sorted(self.terms - translated)
        self.assertFalse(
            untranslated,
            f"{len(untranslated)} term(s) have no Vietnamese translation in i18n/vi.po: "
            f"{untranslated[:30]}",
        )

    def test_placeholders_kept(self):
        """A translation keeps every %(name)s / %s placeholder of its source."""
        import re

        placeholder = re.compile(r"%\(\w+\)[sdrf]|%[sdrf]|\{\w*\}")
        for entry in polib.pofile(str(I18N / "vi.po")):
            if entry.msgstr:
                self.assertEqual(
                    sorted(placeholder.findall(entry.msgid)),
                    sorted(placeholder.findall(entry.msgstr)),
                    f"placeholders differ in {entry.msgid!r}",
                )

    def test_vietnamese_loads(self):
        self.env["res.lang"]._activate_lang("vi_VN")
        self.env["ir.module.module"]._load_module_terms(["sentech_vpbx"], ["vi_VN"], overwrite=True)
        menu = self.env.ref("sentech_vpbx.menu_vpbx_config").with_context(lang="vi_VN")
        po = {e.msgid: e.msgstr for e in polib.pofile(str(I18N / "vi.po"))}
        self.assertEqual(menu.name, po["Configuration"])
