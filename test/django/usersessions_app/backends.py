from django.contrib.sessions.backends.db import SessionStore as DBStore
from django.utils import timezone

from .models import UserSession


class UserSessionMixin:
    @classmethod
    def get_model_class(cls):
        return UserSession

    def create_model_instance(self, data):
        obj = super().create_model_instance(data)
        user_id = data.get('_auth_user_id')  # Django's login() stores the user's pk as text
        obj.user_id = str(user_id) if isinstance(user_id, (str, int)) and not isinstance(user_id, bool) else None
        obj.last_activity = timezone.now()
        return obj


# The class must be named SessionStore: Django signs session data with the salt
# 'django.contrib.sessions.' + the class's __qualname__, the salt the Nest app uses.
class SessionStore(UserSessionMixin, DBStore):
    pass
