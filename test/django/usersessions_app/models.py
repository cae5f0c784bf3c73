from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models


class UserSession(AbstractBaseSession):
    """The table of nest-django-sessions' user index (its migration CreateUserSession creates it)."""

    user_id = models.CharField(max_length=150, null=True, db_index=True)
    # CharField, not GenericIPAddressField: that would be `inet` on PostgreSQL, the table has varchar(45).
    ip = models.CharField(max_length=45, null=True)
    user_agent = models.CharField(max_length=300, null=True)
    created = models.DateTimeField(null=True, auto_now_add=True)
    last_activity = models.DateTimeField(null=True)

    # Written by every save of the store; the other columns keep what the insert (or the Nest app) wrote.
    SAVED_FIELDS = ['session_data', 'expire_date', 'user_id', 'last_activity']

    class Meta:
        db_table = 'user_session'
        # The Nest app's migration owns the table (and its index names): Django never migrates it.
        managed = False

    @classmethod
    def get_session_store_class(cls):
        from .backends import SessionStore
        return SessionStore

    def save(self, *args, **kwargs):
        # DBStore.save() of an existing session is a forced UPDATE of every column: it would set
        # created, ip and user_agent to NULL (the store knows none of them). Only the store's own
        # columns are updated.
        if kwargs.get('force_update') and not kwargs.get('update_fields'):
            kwargs['update_fields'] = self.SAVED_FIELDS
        super().save(*args, **kwargs)
