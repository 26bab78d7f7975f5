from . import route, webhook
