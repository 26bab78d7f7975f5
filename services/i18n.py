"""The one translation marker of ``services/`` (plain Python, no Odoo import).

``_lt("text")`` returns its argument unchanged: Odoo's .pot extractor collects every ``_lt`` call
of the addon, and the model layer translates the template when it is shown
(``VpbxError.render(env._)``, ``PayloadError.render(env._)``).
"""


def _lt(source):
    return source
