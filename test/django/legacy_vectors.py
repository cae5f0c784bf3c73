#!/usr/bin/env python3
"""Prints, as JSON, sessions the running Django writes in the pre-3.1 format (Django 3.1/3.2 with
DEFAULT_HASHING_ALGORITHM = 'sha1', a setting Django 4.0 removed).

"sessionData": SessionStore.encode(data) of the db engine (the same for cached_db): base64 of
"<hex HMAC-SHA1>:<JSON>" (SessionBase._legacy_encode).
"signedCookies": the cookie value of the signed_cookies engine, signed with HMAC-SHA1, at a fixed
timestamp (2100-01-01, so the value stays within SESSION_COOKIE_AGE whenever it is read) so the
output is reproducible.
test/fixtures/django-legacy-vectors.json is this output from Debian's Django 3.2;
test/django/legacy-vectors.e2e-spec.ts checks the library against it, and that Django 3.2 still writes it.
"""
import json
import sys
import warnings
from unittest import mock

from auth_site import configure

SECRETS = ['legacy-vectors-secret-key', 'clé-secrète-ключ-密钥-🔑']
DATA = [
    {'user': 'zoë', 'cart': [1, 2], 'note': '東京 😀'},
    {},
    # Long and repetitive: the signed_cookies value is zlib-compressed (a leading '.').
    {'padding': 'the same words again and again ' * 20},
]
TIMESTAMP = 4102444800


def main():
    import django
    from django.contrib.sessions.backends.db import SessionStore as DbStore
    from django.contrib.sessions.backends.signed_cookies import SessionStore as CookieStore
    from django.test.utils import override_settings
    if django.VERSION >= (4, 0):
        raise SystemExit('Django %s cannot write the pre-3.1 format (DEFAULT_HASHING_ALGORITHM was removed in 4.0)' % django.get_version())
    # DEFAULT_HASHING_ALGORITHM is deprecated in 3.2: its warning is expected, not news.
    warnings.simplefilter('ignore')
    configure('legacy-vectors-unused-key')  # each vector names its own secret
    session_data, cookies = [], []
    for secret in SECRETS:
        with override_settings(SECRET_KEY=secret, DEFAULT_HASHING_ALGORITHM='sha1'):
            for data in DATA:
                session_data.append({'secret': secret, 'data': data, 'encoded': DbStore().encode(data)})
                cookie = CookieStore()
                cookie.update(data)
                with mock.patch('time.time', return_value=TIMESTAMP):
                    cookies.append({'secret': secret, 'data': data, 'cookie': cookie._get_session_key()})
    sys.stdout.reconfigure(encoding='utf-8')
    print(json.dumps({'django': django.get_version(), 'sessionData': session_data, 'signedCookies': cookies}, sort_keys=True, indent=2, ensure_ascii=False))


if __name__ == '__main__':
    main()
