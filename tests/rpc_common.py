"""Calls through JSON-RPC as a given user, for the access tests."""

from odoo.tests.common import JsonRpcException
from odoo.tools import mute_logger

ACCESS_ERROR = "odoo.exceptions.AccessError"


def password(login):
    """The password the access tests give each test user."""
    return f"{login}-Pw!1"


class RpcAsUserMixin:
    """For HttpCase classes: call a model method over RPC as a user, or check it is refused."""

    def rpc(self, user, model, method, args, kwargs=None):
        self.authenticate(user.login, password(user.login))
        return self.make_jsonrpc_request(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": args, "kwargs": kwargs or {}},
        )

    def assertDenied(self, user, model, method, args, kwargs=None):
        with (
            mute_logger("odoo.http", "odoo.models", "odoo.addons.base.models.ir_rule"),
            self.assertRaises(JsonRpcException) as caught,
        ):
            self.rpc(user, model, method, args, kwargs)
        self.assertEqual(str(caught.exception), ACCESS_ERROR, f"{user.login}: {model}.{method}")
        self.env.invalidate_all()
