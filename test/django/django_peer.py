#!/usr/bin/env python3
"""A real Django session framework driven by JSON commands, for the compatibility suite.

Usage:
    django_peer.py --database URL [--user-sessions] [COMMAND_JSON]

URL is `sqlite:/path/to/file` or `postgres://user[:password]@host[:port]/name` (also read from
DJANGO_PEER_DATABASE). With COMMAND_JSON, runs that one command and prints its answer. Without, reads
one command per line on stdin and answers one JSON line per command on stdout, until EOF.

A command is an object: {"cmd": NAME, "settings": {...}, ...arguments}. "settings" overrides Django
settings for that command only: SECRET_KEY, SECRET_KEY_FALLBACKS (Django 4.1+ only: refused on older
versions rather than silently ignored), SESSION_ENGINE (db, cached_db, signed_cookies or a dotted
path), DEFAULT_HASHING_ALGORITHM (Django 3.1/3.2 only; 'sha1' makes them write the pre-3.1 format).
--user-sessions installs the app usersessions_app (beside this file): the custom session model of the
user index's `user_session` table, whose engines are SESSION_ENGINE user_db and user_cached_db
(Django's "Extending database-backed session engines"; the table is created by the Nest side's
userSessionMigrations, never by Django). Without it, nothing changes.
The answer is {"ok": true, "result": ..., "logs": [...]} or {"ok": false, "error": "Type: message",
"logs": [...]}, where "logs" are the records Django logged (django.security.*, django.contrib.sessions).

Values JSON cannot carry are tagged: {"__py__": "nan" | "inf" | "-inf"}, {"__py__": "int",
"value": "<digits>"} for integers no double holds exactly, {"__py__": "float", "value": "1.0"} for a float.
Nothing here mocks Django: every answer comes from Django's own SessionStore classes.
"""
import argparse
import json
import logging
import math
import os
import sys
import warnings
from datetime import datetime
from urllib.parse import unquote, urlparse

ENGINES = {
    'db': 'django.contrib.sessions.backends.db',
    'cached_db': 'django.contrib.sessions.backends.cached_db',
    'signed_cookies': 'django.contrib.sessions.backends.signed_cookies',
    # --user-sessions only: the user index's engines (usersessions_app/backends.py, cached_backends.py).
    'user_db': 'usersessions_app.backends',
    'user_cached_db': 'usersessions_app.cached_backends',
}
USER_SESSIONS_APP = 'usersessions_app'
USER_SESSION_ENGINES = (ENGINES['user_db'], ENGINES['user_cached_db'])
DEFAULT_SECRET_KEY = 'django-peer-default-secret-key'


def database_settings(url):
    if url.startswith('sqlite:'):
        name = url[len('sqlite:'):]
        return {'ENGINE': 'django.db.backends.sqlite3', 'NAME': name[2:] if name.startswith('//') else name}
    parsed = urlparse(url)
    if parsed.scheme not in ('postgres', 'postgresql'):
        raise SystemExit('--database must be a sqlite: or postgres:// URL, got %r' % url)
    return {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': parsed.path.lstrip('/'),
        'USER': unquote(parsed.username or ''),
        'PASSWORD': unquote(parsed.password or ''),
        'HOST': parsed.hostname or '',
        'PORT': str(parsed.port or ''),
    }


def configure(database_url, user_sessions=False):
    from django.conf import settings
    if user_sessions:
        # The app package lives beside this script (sys.path[0] when run as a script; not with -c).
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    settings.configure(
        DEBUG=False,
        SECRET_KEY=os.environ.get('DJANGO_PEER_SECRET_KEY', DEFAULT_SECRET_KEY),
        DATABASES={'default': database_settings(database_url)},
        INSTALLED_APPS=['django.contrib.sessions'] + ([USER_SESSIONS_APP] if user_sessions else []),
        # Django's cache half of cached_db is pickled and private to this process; it is cleared
        # before every command so a read always goes to the shared database, as a cold cache would.
        CACHES={'default': {'BACKEND': 'django.core.cache.backends.locmem.LocMemCache'}},
        SESSION_ENGINE=ENGINES['db'],
        SESSION_SERIALIZER='django.contrib.sessions.serializers.JSONSerializer',
        USE_TZ=True,
        TIME_ZONE='UTC',
    )
    import django
    django.setup()


# ----- JSON values in and out -----

def from_wire(value):
    if isinstance(value, dict):
        tag = value.get('__py__')
        if tag == 'nan':
            return float('nan')
        if tag == 'inf':
            return float('inf')
        if tag == '-inf':
            return float('-inf')
        if tag == 'int':
            return int(value['value'])
        if tag == 'float':
            return float(value['value'])
        return {k: from_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    return value


def exact_double(integer):
    try:
        return int(float(integer)) == integer
    except OverflowError:
        return False


def to_wire(value):
    if isinstance(value, float) and not math.isfinite(value):
        return {'__py__': 'nan' if math.isnan(value) else ('inf' if value > 0 else '-inf')}
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2 ** 53 and not exact_double(value):
        return {'__py__': 'int', 'value': str(value)}
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class LogRecords(logging.Handler):
    """Collects what Django logs during one command."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append({'logger': record.name, 'level': record.levelname, 'message': record.getMessage()})


# ----- the commands -----

def session_store(key=None):
    from importlib import import_module
    from django.conf import settings
    return import_module(settings.SESSION_ENGINE).SessionStore(key)


def attempt(function):
    """A value Django computes, or the exception it raises (Django 3.2 raises on some of our values)."""
    try:
        return {'value': to_wire(function())}
    except Exception as error:  # noqa: BLE001 - reported to the test, which asserts it
        return {'error': '%s: %s' % (type(error).__name__, error)}


def set_expiry(session, expiry):
    """{"seconds": n} (0: browser close), {"date": iso}, or {"clear": true} (back to the global policy)."""
    if expiry is None:
        return
    if 'date' in expiry:
        session.set_expiry(datetime.fromisoformat(expiry['date'].replace('Z', '+00:00')))
    elif 'seconds' in expiry:
        session.set_expiry(from_wire(expiry['seconds']))
    elif expiry.get('clear'):
        session.set_expiry(None)


def is_signed_cookies(session):
    return type(session).__module__ == ENGINES['signed_cookies']


def session_model():
    """The session model of the engine's store (db, cached_db and their subclasses), else None."""
    from importlib import import_module
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore as DBStore
    store = import_module(settings.SESSION_ENGINE).SessionStore
    return store.get_model_class() if issubclass(store, DBStore) else None


def stored_row(key):
    """The session row of this key (db and cached_db engines: django_session; user_db and
    user_cached_db: user_session, with its extra columns too)."""
    model = None if key is None else session_model()
    if model is None:
        return None
    from django.contrib.sessions.models import Session
    extra = [] if model is Session else [
        field.attname for field in model._meta.concrete_fields if field.attname not in ('session_key', 'session_data', 'expire_date')
    ]
    row = model.objects.filter(pk=key).values('session_data', 'expire_date', *extra).first()
    if row is None:
        return None
    described = {'session_data': row['session_data'], 'expire_date': row['expire_date'].isoformat()}
    for name in extra:
        described[name] = row[name].isoformat() if isinstance(row[name], datetime) else row[name]
    return described


def signed_json(session, session_data):
    """The JSON text inside signed session data, exactly as stored (Django's own signing.loads)."""
    from django.core import signing

    class RawText:
        def loads(self, data):
            return data.decode('latin-1')

    salt = ENGINES['signed_cookies'] if is_signed_cookies(session) else session.key_salt
    return signing.loads(session_data, salt=salt, serializer=RawText)


def describe(session, original_key=None):
    """Everything the tests compare: key, data, expiry as Django computes it, the stored row."""
    data = attempt(lambda: dict(session.items()))
    key = session.session_key
    row = stored_row(key)
    described = {
        'key': key,
        'data': data.get('value'),
        'data_error': data.get('error'),
        'exists': session.exists(key) if key else False,
        'expiry_age': attempt(session.get_expiry_age),
        'expiry_date': attempt(session.get_expiry_date),
        'expire_at_browser_close': attempt(session.get_expire_at_browser_close),
        'row': row,
    }
    if original_key is not None and original_key != key:
        described['original_key_exists'] = session.exists(original_key)
    stored = row['session_data'] if row else (key if is_signed_cookies(session) else None)
    if stored and 'value' in data:
        # Django's serializer on the decoded data vs the bytes actually stored: equal when the other
        # side wrote exactly what Django would have written.
        described['stored_json'] = attempt(lambda: signed_json(session, stored))
        described['django_json'] = attempt(lambda: session.serializer().dumps(session._session).decode('latin-1'))
    return described


def cmd_version(_):
    import django
    return {
        'version': django.get_version(),
        'version_info': list(django.VERSION[:3]),
        'python': sys.version.split()[0],
        'secret_key_fallbacks': django.VERSION >= (4, 1),
        'writes_legacy_format': django.VERSION < (4, 0),
    }


def cmd_create(args):
    session = session_store()
    session.update(from_wire(args.get('data', {})))
    set_expiry(session, args.get('expiry'))
    session.save()
    return describe(session)


def cmd_read(args):
    """By key, or by a Cookie header as a browser sends it (through Django's own cookie parser)."""
    if 'cookie' in args:
        from django.conf import settings
        from django.http.cookie import parse_cookie
        return describe(session_store(parse_cookie(args['cookie']).get(settings.SESSION_COOKIE_NAME)))
    return describe(session_store(args['key']))


def cmd_modify(args):
    session = session_store(args['key'])
    session.update(from_wire(args.get('set', {})))
    for name in args.get('delete', []):
        session.pop(name, None)
    set_expiry(session, args.get('expiry'))
    session.save()
    return describe(session, args['key'])


def cmd_flush(args):
    session = session_store(args['key'])
    session.flush()
    return {'key': session.session_key, 'original_key_exists': session.exists(args['key'])}


def cmd_cycle_key(args):
    session = session_store(args['key'])
    session.cycle_key()
    # cycle_key() stores the data under the new key (db) or re-signs it (signed_cookies); the
    # middleware then saves the modified session, as here.
    session.save()
    return describe(session, args['key'])


def cmd_encode(args):
    return session_store().encode(from_wire(args['data']))


def cmd_decode(args):
    return session_store().decode(args['session_data'])


def cmd_row(args):
    return stored_row(args['key'])


def cmd_set_row(args):
    from django.contrib.sessions.models import Session
    model = session_model() or Session
    return model.objects.filter(pk=args['key']).update(session_data=args['session_data'])


def cmd_delete(args):
    """The store's delete(key): the row goes (and, for cached_db, the cache entry)."""
    session_store().delete(args['key'])
    return session_store().exists(args['key'])


def user_session_model():
    from django.conf import settings
    if USER_SESSIONS_APP not in settings.INSTALLED_APPS:
        raise ValueError('the user index needs the peer started with --user-sessions')
    from usersessions_app.models import UserSession
    return UserSession


def cmd_user_sessions(args):
    """A Django query of the user index: UserSession.objects.filter(user_id=...), unexpired or all,
    each row with its data as the model's get_decoded() reads it."""
    from django.utils import timezone
    rows = user_session_model().objects.filter(user_id=args['user_id'])
    if not args.get('include_expired'):
        rows = rows.filter(expire_date__gt=timezone.now())
    return [{
        'key': row.session_key,
        'data': attempt(row.get_decoded),
        'expire_date': row.expire_date.isoformat(),
        'user_id': row.user_id,
        'ip': row.ip,
        'user_agent': row.user_agent,
        'created': row.created.isoformat() if row.created else None,
        'last_activity': row.last_activity.isoformat() if row.last_activity else None,
    } for row in rows.order_by('session_key')]


def cmd_delete_user_sessions(args):
    """What a Django site's "sign out everywhere" does: a queryset delete of the user's rows."""
    deleted, _ = user_session_model().objects.filter(user_id=args['user_id']).delete()
    return deleted


def cmd_migrate(_):
    """Django's own `migrate` of the sessions app: creates django_session as a Django site has it."""
    from django.core.management import call_command
    call_command('migrate', 'sessions', verbosity=0)
    return True


COMMANDS = {
    'version': cmd_version,
    'migrate': cmd_migrate,
    'create': cmd_create,
    'read': cmd_read,
    'modify': cmd_modify,
    'flush': cmd_flush,
    'cycle_key': cmd_cycle_key,
    'encode': cmd_encode,
    'decode': cmd_decode,
    'row': cmd_row,
    'set_row': cmd_set_row,
    'delete': cmd_delete,
    'user_sessions': cmd_user_sessions,
    'delete_user_sessions': cmd_delete_user_sessions,
}


def settings_overrides(requested):
    import django
    from django.conf import settings
    overrides = {}
    for name, value in (requested or {}).items():
        if name == 'SESSION_ENGINE':
            overrides[name] = ENGINES.get(value, value)
            if overrides[name] in USER_SESSION_ENGINES and USER_SESSIONS_APP not in settings.INSTALLED_APPS:
                raise ValueError('SESSION_ENGINE %s needs the peer started with --user-sessions' % value)
        elif name == 'SECRET_KEY_FALLBACKS' and django.VERSION < (4, 1):
            raise ValueError('SECRET_KEY_FALLBACKS needs Django 4.1+, this is %s' % django.get_version())
        elif name == 'DEFAULT_HASHING_ALGORITHM' and django.VERSION >= (4, 0):
            raise ValueError('DEFAULT_HASHING_ALGORITHM was removed in Django 4.0, this is %s' % django.get_version())
        elif name in ('SECRET_KEY', 'SECRET_KEY_FALLBACKS', 'DEFAULT_HASHING_ALGORITHM', 'SESSION_COOKIE_AGE'):
            overrides[name] = value
        else:
            raise ValueError('setting %s cannot be overridden here' % name)
    return overrides


def run(command):
    from django.core.cache import caches
    from django.db import connections
    from django.test.utils import override_settings
    records = LogRecords()
    loggers = [logging.getLogger('django.security'), logging.getLogger('django.contrib.sessions')]
    for logger in loggers:
        logger.addHandler(records)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
    try:
        handler = COMMANDS.get(command.get('cmd'))
        if handler is None:
            raise ValueError('unknown command %r' % command.get('cmd'))
        caches['default'].clear()
        with override_settings(**settings_overrides(command.get('settings'))):
            result = handler(command)
        answer = {'ok': True, 'result': to_wire(result)}
    except Exception as error:  # noqa: BLE001 - every failure is an answer, never a dead peer
        answer = {'ok': False, 'error': '%s: %s' % (type(error).__name__, error)}
    finally:
        for logger in loggers:
            logger.removeHandler(records)
        connections.close_all()
    answer['logs'] = records.records
    return answer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--database', default=os.environ.get('DJANGO_PEER_DATABASE'))
    parser.add_argument('--user-sessions', action='store_true', help='install usersessions_app (SESSION_ENGINE user_db, user_cached_db)')
    parser.add_argument('command', nargs='?')
    options = parser.parse_args()
    if not options.database:
        parser.error('--database (or DJANGO_PEER_DATABASE) is required')
    # DEFAULT_HASHING_ALGORITHM is deprecated in 3.2: its warning is expected, not news.
    warnings.simplefilter('ignore')
    configure(options.database, user_sessions=options.user_sessions)
    if options.command:
        print(json.dumps(run(json.loads(options.command))))
        return
    for line in sys.stdin:
        if line.strip():
            sys.stdout.write(json.dumps(run(json.loads(line))) + '\n')
            sys.stdout.flush()


if __name__ == '__main__':
    main()
