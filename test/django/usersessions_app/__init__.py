"""A Django site's side of the user index ("Where you're signed in"): the `user_session` table that
nest-django-sessions' `userSessions` option uses, as a custom session model (Django's documented
"Extending database-backed session engines"). SESSION_ENGINE = 'usersessions_app.backends' (db) or
'usersessions_app.cached_backends' (cached_db); the app must be in INSTALLED_APPS.
"""
