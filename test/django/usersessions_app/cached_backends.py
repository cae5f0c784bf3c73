from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore

from .backends import UserSessionMixin


class SessionStore(UserSessionMixin, CachedDBStore):
    pass
