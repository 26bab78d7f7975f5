from . import recording, route, webhook
